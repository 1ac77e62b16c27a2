/// One way an instance does not satisfy a schema.
///
/// Short enough for an execution's error text: where in the instance (a JSONPath such as
/// `$.items[2].name`) and which rule (`minimum 0`, `required property 'q' is missing`).
/// Neither part quotes the offending value, so a secret in the arguments does not end up in
/// an error message; schema values (bounds, enum members, patterns) may be quoted.
public struct JSONSchemaViolation: Sendable, Equatable, CustomStringConvertible {
    /// Where in the instance, as a JSONPath: `$` is the whole instance.
    public var path: String
    /// The rule the value at ``path`` breaks, in words.
    public var rule: String

    public init(path: String, rule: String) {
        self.path = path
        self.rule = rule
    }

    /// `"$.items[2].name: minLength 1"`.
    public var description: String { "\(path): \(rule)" }
}

/// A step from a value to one inside it.
enum JSONPathSegment: Sendable {
    case key(String)
    case index(Int)

    /// `$` followed by the segments: `.name` for identifier-like keys, `['a b']` otherwise,
    /// `[2]` for indices.
    static func render(_ segments: some Sequence<JSONPathSegment>) -> String {
        var out = "$"
        for segment in segments {
            switch segment {
            case .index(let index): out += "[\(index)]"
            case .key(let key):
                if isIdentifier(key) {
                    out += "." + key
                } else {
                    out += "['"
                    for character in key.unicodeScalars {
                        switch character {
                        case "'": out += "\\'"
                        case "\\": out += "\\\\"
                        case _ where character.value < 0x20: out += "\\u{\(String(character.value, radix: 16))}"
                        default: out.unicodeScalars.append(character)
                        }
                    }
                    out += "']"
                }
            }
        }
        return out
    }

    private static func isIdentifier(_ key: String) -> Bool {
        guard let first = key.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { return false }
        return key.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
        }
    }
}
