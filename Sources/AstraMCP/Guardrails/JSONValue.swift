/// A JSON value, as JSON Schema sees one.
///
/// Numbers keep the distinction the text made: a literal without fraction or exponent that
/// fits in 64 bits is ``integer(_:)``, any other number is ``double(_:)``. Equality is JSON
/// equality, the one `enum`, `const` and `uniqueItems` use: `1 == 1.0`, objects compare
/// without regard to member order, strings compare code point by code point (not by
/// Unicode canonical equivalence, as Swift's `String ==` would), and `true` is not `1`.
public enum JSONValue: Sendable {
    case null
    case bool(Bool)
    /// A number written without fraction or exponent that fits in `Int64`.
    case integer(Int64)
    /// Any other number (with a fraction or an exponent, or outside `Int64`).
    case double(Double)
    case string(String)
    case array([JSONValue])
    /// An object; a member repeated in the text keeps its last value, as most parsers do.
    case object([String: JSONValue])

    /// Parses one JSON text (RFC 8259) without Foundation.
    ///
    /// - Parameter maxDepth: the deepest nesting of arrays and objects accepted; deeper
    ///   input is rejected with ``JSONParseError/Kind/tooDeep`` rather than risking the
    ///   stack of whoever later walks the value.
    public static func parse(_ text: String, maxDepth: Int = 256) throws(JSONParseError) -> JSONValue {
        var text = text
        // withUTF8 rethrows untyped; carry the typed error out in a Result.
        let result = text.withUTF8 { bytes -> Result<JSONValue, JSONParseError> in
            var parser = JSONParser(bytes: UnsafeRawBufferPointer(bytes), maxDepth: maxDepth)
            do throws(JSONParseError) { return .success(try parser.parseDocument()) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// The JSON Schema type name of this value ("integer" for an integral number either way).
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .integer: "integer"
        case .double(let value): value.rounded(.towardZero) == value ? "integer" : "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

extension JSONValue: Equatable {
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.integer(let a), .integer(let b)): a == b
        case (.double(let a), .double(let b)): a == b
        case (.integer(let a), .double(let b)), (.double(let b), .integer(let a)): Int64(exactly: b) == a
        // Byte equality of UTF-8 is code point equality; `String ==` would also equate
        // canonically equivalent strings, which JSON does not.
        case (.string(let a), .string(let b)): a.utf8.elementsEqual(b.utf8)
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)):
            a.count == b.count && a.allSatisfy { key, value in b[key] == value }
        default: false
        }
    }
}

extension JSONValue: Hashable {
    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let value): hasher.combine(value)
        case .integer(let value): hasher.combine(value)
        case .double(let value):
            // Consistent with ==: an integral double hashes as the integer it equals.
            if let integer = Int64(exactly: value) { hasher.combine(integer) } else { hasher.combine(value) }
        case .string(let value): hasher.combine(value)
        case .array(let values): hasher.combine(values)
        case .object(let members):
            // Order-independent: the sum of the members' hashes.
            var sum = 0
            for (key, value) in members {
                var member = Hasher()
                member.combine(key)
                member.combine(value)
                sum &+= member.finalize()
            }
            hasher.combine(members.count)
            hasher.combine(sum)
        }
    }
}

extension JSONValue: CustomStringConvertible {
    /// Compact JSON text (object members in sorted key order, so the text is stable).
    public var description: String {
        var out = ""
        write(to: &out, limit: Int.max)
        return out
    }

    /// Compact JSON text cut to about `limit` characters with "…", for messages that name a
    /// schema value.
    func abbreviated(_ limit: Int = 60) -> String {
        var out = ""
        write(to: &out, limit: limit)
        if out.count > limit { out = String(out.prefix(limit)) + "…" }
        return out
    }

    private func write(to out: inout String, limit: Int) {
        guard out.utf8.count <= limit else { return }
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .integer(let value): out += String(value)
        case .double(let value):
            if let integer = Int64(exactly: value) { out += String(integer) } else { out += String(value) }
        case .string(let value): Self.writeQuoted(value, to: &out)
        case .array(let values):
            out += "["
            for (index, value) in values.enumerated() {
                if index > 0 { out += "," }
                value.write(to: &out, limit: limit)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { out += "," }
                Self.writeQuoted(key, to: &out)
                out += ":"
                members[key]!.write(to: &out, limit: limit)
            }
            out += "}"
        }
    }

    static func writeQuoted(_ string: String, to out: inout String) {
        out += JSONScanner.quote(string)
    }
}
