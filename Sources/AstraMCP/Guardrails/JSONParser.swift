/// Why a JSON text could not be parsed, and where.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The text ended inside a value.
        case unexpectedEnd
        /// A byte that cannot start or continue a value here.
        case unexpectedByte(UInt8)
        /// A number that does not follow the JSON grammar, or does not fit in a Double.
        case invalidNumber
        /// A backslash escape JSON does not define, or a `\u` escape that is not a valid
        /// scalar (a lone surrogate).
        case invalidEscape
        /// A control character (below U+0020) inside a string, which JSON requires escaped.
        case controlCharacterInString
        /// Arrays and objects nested deeper than the limit.
        case tooDeep(limit: Int)
        /// Something other than whitespace after the value.
        case trailingContent
    }

    public var kind: Kind
    /// The byte offset (into the UTF-8 text) where the problem is.
    public var offset: Int

    public var description: String {
        let what: String
        switch kind {
        case .unexpectedEnd: what = "unexpected end of text"
        case .unexpectedByte(let byte):
            what = byte >= 0x20 && byte < 0x7F
                ? "unexpected character '\(Character(Unicode.Scalar(byte)))'" : "unexpected byte 0x\(String(byte, radix: 16))"
        case .invalidNumber: what = "invalid number"
        case .invalidEscape: what = "invalid escape in string"
        case .controlCharacterInString: what = "unescaped control character in string"
        case .tooDeep(let limit): what = "nesting deeper than \(limit)"
        case .trailingContent: what = "content after the JSON value"
        }
        return "malformed JSON at byte \(offset): \(what)"
    }
}

/// A JSON parser over UTF-8 bytes into ``JSONValue``.
///
/// Iterative, with explicit stacks, so the nesting limit is a policy and not a stack size:
/// 100k nested arrays are refused at the limit without recursion.
struct JSONParser {
    private let bytes: UnsafeRawBufferPointer
    private let maxDepth: Int
    private var index = 0

    init(bytes: UnsafeRawBufferPointer, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = max(0, maxDepth)
    }

    /// The open containers, innermost last. Arrays and objects have separate stacks so that
    /// appending to the innermost one mutates it in place (no copy-on-write of a payload).
    private enum Open { case array, object }

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        var open: [Open] = []
        var arrays: [[JSONValue]] = []
        var objects: [[String: JSONValue]] = []
        var keys: [String] = []

        while true {
            // Parse one value start; containers push and loop to their first element.
            skipWhitespace()
            guard index < bytes.count else { throw JSONParseError(kind: .unexpectedEnd, offset: index) }
            var value: JSONValue
            switch bytes[index] {
            case UInt8(ascii: "["):
                guard open.count < maxDepth else { throw JSONParseError(kind: .tooDeep(limit: maxDepth), offset: index) }
                index += 1
                skipWhitespace()
                if peek() == UInt8(ascii: "]") {
                    index += 1
                    value = .array([])
                } else {
                    open.append(.array)
                    arrays.append([])
                    continue
                }
            case UInt8(ascii: "{"):
                guard open.count < maxDepth else { throw JSONParseError(kind: .tooDeep(limit: maxDepth), offset: index) }
                index += 1
                skipWhitespace()
                if peek() == UInt8(ascii: "}") {
                    index += 1
                    value = .object([:])
                } else {
                    open.append(.object)
                    objects.append([:])
                    keys.append(try parseKey())
                    continue
                }
            default:
                value = try parseScalar()
            }

            // Hand the value to its container; close every container that ends here.
            while true {
                guard let innermost = open.last else {
                    skipWhitespace()
                    guard index == bytes.count else { throw JSONParseError(kind: .trailingContent, offset: index) }
                    return value
                }
                skipWhitespace()
                let next = peek()
                switch innermost {
                case .array:
                    arrays[arrays.count - 1].append(value)
                    if next == UInt8(ascii: ",") {
                        index += 1
                    } else if next == UInt8(ascii: "]") {
                        index += 1
                        open.removeLast()
                        value = .array(arrays.removeLast())
                        continue
                    } else {
                        throw unexpected()
                    }
                case .object:
                    objects[objects.count - 1][keys.removeLast()] = value
                    if next == UInt8(ascii: ",") {
                        index += 1
                        skipWhitespace()
                        keys.append(try parseKey())
                    } else if next == UInt8(ascii: "}") {
                        index += 1
                        open.removeLast()
                        value = .object(objects.removeLast())
                        continue
                    } else {
                        throw unexpected()
                    }
                }
                break
            }
        }
    }

    // MARK: - Pieces

    private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    private func unexpected() -> JSONParseError {
        index < bytes.count
            ? JSONParseError(kind: .unexpectedByte(bytes[index]), offset: index) : JSONParseError(kind: .unexpectedEnd, offset: index)
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    /// `"key"` then `:`, leaving `index` at the value.
    private mutating func parseKey() throws(JSONParseError) -> String {
        guard peek() == UInt8(ascii: "\"") else { throw unexpected() }
        let key = try parseString()
        skipWhitespace()
        guard peek() == UInt8(ascii: ":") else { throw unexpected() }
        index += 1
        return key
    }

    private mutating func parseScalar() throws(JSONParseError) -> JSONValue {
        switch bytes[index] {
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw unexpected()
        }
    }

    private mutating func literal(_ word: StaticString) throws(JSONParseError) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw JSONParseError(kind: .unexpectedEnd, offset: bytes.count) }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] {
            throw JSONParseError(kind: .unexpectedByte(bytes[index + offset]), offset: index + offset)
        }
        index += count
    }

    private mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = index
        var integral = true
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        // Integer part: 0, or a nonzero digit and more digits.
        guard let first = peek(), isDigit(first) else { throw JSONParseError(kind: .invalidNumber, offset: start) }
        index += 1
        if first != UInt8(ascii: "0") { skipDigits() }
        if peek() == UInt8(ascii: ".") {
            integral = false
            index += 1
            guard let digit = peek(), isDigit(digit) else { throw JSONParseError(kind: .invalidNumber, offset: start) }
            skipDigits()
        }
        if let e = peek(), e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            integral = false
            index += 1
            if let sign = peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { index += 1 }
            guard let digit = peek(), isDigit(digit) else { throw JSONParseError(kind: .invalidNumber, offset: start) }
            skipDigits()
        }
        let text = UnsafeRawBufferPointer(rebasing: bytes[start..<index])
        if integral, let value = Self.int64(text) { return .integer(value) }
        guard let value = Double(String(decoding: text, as: UTF8.self)), value.isFinite else {
            throw JSONParseError(kind: .invalidNumber, offset: start)
        }
        return .double(value)
    }

    /// The integer spelled by `-?[0-9]+`, or nil when it overflows Int64.
    private static func int64(_ text: UnsafeRawBufferPointer) -> Int64? {
        var negative = false
        var digits = text[...]
        if digits.first == UInt8(ascii: "-") {
            negative = true
            digits = digits.dropFirst()
        }
        guard digits.count <= 19 else { return nil }
        // Accumulate negatively so Int64.min fits.
        var value: Int64 = 0
        for digit in digits {
            let (shifted, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = shifted.subtractingReportingOverflow(Int64(digit &- UInt8(ascii: "0")))
            if o1 || o2 { return nil }
            value = next
        }
        if negative { return value }
        return value == .min ? nil : -value
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private mutating func skipDigits() {
        while index < bytes.count, isDigit(bytes[index]) { index += 1 }
    }

    /// A string starting at the opening quote; `index` ends after the closing quote.
    private mutating func parseString() throws(JSONParseError) -> String {
        index += 1
        let start = index
        // Fast path: no escapes, the common case for keys and most values.
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let string = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                index += 1
                return string
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw JSONParseError(kind: .controlCharacterInString, offset: index) }
            index += 1
        }
        guard index < bytes.count else { throw JSONParseError(kind: .unexpectedEnd, offset: index) }

        var scalars = Array(UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return String(decoding: scalars, as: UTF8.self)
            case UInt8(ascii: "\\"):
                let escapeStart = index
                index += 1
                guard index < bytes.count else { throw JSONParseError(kind: .unexpectedEnd, offset: index) }
                let escaped = bytes[index]
                index += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(escaped)
                case UInt8(ascii: "b"): scalars.append(0x08)
                case UInt8(ascii: "f"): scalars.append(0x0C)
                case UInt8(ascii: "n"): scalars.append(0x0A)
                case UInt8(ascii: "r"): scalars.append(0x0D)
                case UInt8(ascii: "t"): scalars.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try hex4(at: escapeStart)
                    if (0xD800..<0xDC00).contains(code) {
                        // A high surrogate must be followed by an escaped low one.
                        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                            throw JSONParseError(kind: .invalidEscape, offset: escapeStart)
                        }
                        index += 2
                        let low = try hex4(at: escapeStart)
                        guard (0xDC00..<0xE000).contains(low) else { throw JSONParseError(kind: .invalidEscape, offset: escapeStart) }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw JSONParseError(kind: .invalidEscape, offset: escapeStart) }
                    scalars.append(contentsOf: UTF8.encode(scalar)!)
                default: throw JSONParseError(kind: .invalidEscape, offset: escapeStart)
                }
            default:
                if byte < 0x20 { throw JSONParseError(kind: .controlCharacterInString, offset: index) }
                scalars.append(byte)
                index += 1
            }
        }
        throw JSONParseError(kind: .unexpectedEnd, offset: index)
    }

    private mutating func hex4(at escapeStart: Int) throws(JSONParseError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw JSONParseError(kind: .unexpectedEnd, offset: bytes.count) }
        var code: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw JSONParseError(kind: .invalidEscape, offset: escapeStart)
            }
            code = code << 4 | UInt32(digit)
            index += 1
        }
        return code
    }
}
