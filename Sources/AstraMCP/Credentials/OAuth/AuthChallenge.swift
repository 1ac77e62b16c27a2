/// One challenge of a `WWW-Authenticate` header (RFC 9110 §11.6.1): a scheme and either
/// auth-params or a token68.
struct AuthChallenge: Sendable, Equatable {
    /// The scheme, lowercased (schemes are case-insensitive).
    var scheme: String
    /// The auth-params, names lowercased (they are case-insensitive), quoted-strings unquoted.
    var parameters: [String: String] = [:]
    var token68: String?

    /// Every challenge of the header values (several values are one comma-separated list).
    ///
    /// A value the grammar does not allow ends the parse there: what came before it is kept,
    /// since a server's sloppy extra challenge must not hide its Bearer one.
    static func parse(_ values: [String]) -> [AuthChallenge] {
        var parser = Parser(Array(values.joined(separator: ", ").utf8))
        return parser.challenges()
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        mutating func challenges() -> [AuthChallenge] {
            var result: [AuthChallenge] = []
            while true {
                skip { $0 == UInt8(ascii: ",") || Self.isSpace($0) }
                guard let scheme = token() else { return result }
                var challenge = AuthChallenge(scheme: scheme.lowercased())
                let spaced = skip(Self.isSpace)
                // A comma (or the end) right after the scheme: a challenge without parameters.
                if spaced, peek != nil, peek != UInt8(ascii: ",") {
                    if let token68 = token68() {
                        challenge.token68 = token68
                    } else if !parameters(into: &challenge) {
                        result.append(challenge)
                        return result
                    }
                }
                result.append(challenge)
            }
        }

        /// auth-params, up to the next challenge's scheme; false when the text broke the grammar.
        private mutating func parameters(into challenge: inout AuthChallenge) -> Bool {
            while true {
                let start = index
                guard let name = token() else { return peek == nil }
                skip(Self.isSpace)
                guard peek == UInt8(ascii: "=") else {
                    // A token without "=": the next challenge's scheme.
                    index = start
                    return true
                }
                index += 1
                skip(Self.isSpace)
                let value: String?
                if peek == UInt8(ascii: "\"") { value = quotedString() } else { value = token() }
                guard let value else { return false }
                challenge.parameters[name.lowercased()] = value
                skip(Self.isSpace)
                guard peek != nil else { return true }
                guard peek == UInt8(ascii: ",") else { return false }
                skip { $0 == UInt8(ascii: ",") || Self.isSpace($0) }
                guard peek != nil else { return true }
            }
        }

        /// A token68 (`abc/+==`), when what follows the scheme is one: it runs to the end or a
        /// comma; anything else after it (`name=value`, `name = "v"`) makes it a parameter.
        private mutating func token68() -> String? {
            let start = index
            while let byte = peek, Self.isToken68(byte) { index += 1 }
            guard index > start else { return nil }
            while peek == UInt8(ascii: "=") { index += 1 }
            let end = index
            skip(Self.isSpace)
            guard peek == nil || peek == UInt8(ascii: ",") else {
                index = start
                return nil
            }
            return String(decoding: bytes[start..<end], as: UTF8.self)
        }

        private mutating func token() -> String? {
            let start = index
            while let byte = peek, Self.isTokenChar(byte) { index += 1 }
            return index > start ? String(decoding: bytes[start..<index], as: UTF8.self) : nil
        }

        /// A quoted-string, unquoted (`\x` is `x`); nil when it never closes.
        private mutating func quotedString() -> String? {
            index += 1
            var value: [UInt8] = []
            while let byte = peek {
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return String(decoding: value, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard let escaped = peek else { return nil }
                    value.append(escaped)
                    index += 1
                default:
                    value.append(byte)
                }
            }
            return nil
        }

        private var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

        @discardableResult
        private mutating func skip(_ predicate: (UInt8) -> Bool) -> Bool {
            let start = index
            while let byte = peek, predicate(byte) { index += 1 }
            return index > start
        }

        private static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }

        /// tchar (RFC 9110 §5.6.2).
        private static func isTokenChar(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): return true
            default: return Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
            }
        }

        private static func isToken68(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): return true
            default: return Array("-._~+/".utf8).contains(byte)
            }
        }
    }
}

/// What a `Bearer` challenge (RFC 6750 §3, RFC 9728 §5.1) tells an OAuth client.
struct BearerChallenge: Sendable, Equatable {
    /// Where the protected resource metadata is (RFC 9728).
    var resourceMetadata: String?
    /// The scope the request needs.
    var scope: String?
    /// `invalid_token`, `insufficient_scope`, …
    var error: String?
    var errorDescription: String?

    /// The Bearer challenge among the `WWW-Authenticate` values, if there is one.
    init?(headerValues: [String]) {
        guard let bearer = AuthChallenge.parse(headerValues).first(where: { $0.scheme == "bearer" }) else { return nil }
        resourceMetadata = bearer.parameters["resource_metadata"]
        scope = bearer.parameters["scope"]
        error = bearer.parameters["error"]
        errorDescription = bearer.parameters["error_description"]
    }

    init(resourceMetadata: String? = nil, scope: String? = nil, error: String? = nil, errorDescription: String? = nil) {
        self.resourceMetadata = resourceMetadata
        self.scope = scope
        self.error = error
        self.errorDescription = errorDescription
    }
}
