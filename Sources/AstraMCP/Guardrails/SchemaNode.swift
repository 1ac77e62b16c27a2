/// A compiled subschema: the assertions its keywords make, in the order they are checked.
///
/// Subschemas live in one array and refer to each other by index, so `$ref` cycles (a
/// recursive tree schema) are plain indices and the compiled schema is a value type.
struct SchemaNode: Sendable {
    /// The JSON pointer of the subschema (`#/properties/q`), for schema errors.
    var location: String
    var assertions: [SchemaAssertion] = []

    /// `true` or `{}` (or only unknown keywords): accepts everything.
    var acceptsEverything: Bool { assertions.isEmpty }
    /// The `false` schema.
    var rejectsEverything: Bool {
        if assertions.count == 1, case .never = assertions[0] { return true }
        return false
    }
}

/// The JSON types of `type`.
struct JSONTypeSet: OptionSet, Sendable {
    let rawValue: UInt8
    static let null = JSONTypeSet(rawValue: 1 << 0)
    static let boolean = JSONTypeSet(rawValue: 1 << 1)
    static let integer = JSONTypeSet(rawValue: 1 << 2)
    static let number = JSONTypeSet(rawValue: 1 << 3)
    static let string = JSONTypeSet(rawValue: 1 << 4)
    static let array = JSONTypeSet(rawValue: 1 << 5)
    static let object = JSONTypeSet(rawValue: 1 << 6)

    static let names: [(String, JSONTypeSet)] = [
        ("null", .null), ("boolean", .boolean), ("integer", .integer), ("number", .number), ("string", .string),
        ("array", .array), ("object", .object),
    ]

    init(rawValue: UInt8) { self.rawValue = rawValue }

    init?(name: String) {
        guard let entry = Self.names.first(where: { $0.0 == name }) else { return nil }
        self = entry.1
    }

    /// Whether `value` is of one of the types; `integer` includes integral doubles (1.0),
    /// `number` includes integers.
    func admits(_ value: JSONValue) -> Bool {
        switch value {
        case .null: contains(.null)
        case .bool: contains(.boolean)
        case .integer: !isDisjoint(with: [.integer, .number])
        case .double(let double): contains(.number) || (contains(.integer) && double.rounded(.towardZero) == double)
        case .string: contains(.string)
        case .array: contains(.array)
        case .object: contains(.object)
        }
    }

    /// `'string' or 'null'`.
    var listed: String {
        Self.names.filter { contains($0.1) }.map { "'\($0.0)'" }.joined(separator: " or ")
    }
}

/// One check a subschema makes; subschemas are indices into the compiled node array.
enum SchemaAssertion: Sendable {
    /// The `false` schema.
    case never
    case type(JSONTypeSet)
    /// `enum`; the set is there for long lists.
    case enumeration([JSONValue], Set<JSONValue>?)
    case constant(JSONValue)
    case minimum(JSONNumber, exclusive: Bool)
    case maximum(JSONNumber, exclusive: Bool)
    case multipleOf(JSONNumber)
    case minLength(Int)
    case maxLength(Int)
    case pattern(CompiledPattern)
    case format(FormatChecker)
    case minItems(Int)
    case maxItems(Int)
    case uniqueItems
    /// `prefixItems` (or draft-07 array `items`) and `items` (or `additionalItems`).
    case items(prefix: [Int], rest: Int?)
    case contains(Int, min: Int, max: Int?)
    case required([String])
    /// `properties`, `patternProperties` and `additionalProperties`, which depend on each other.
    case members(properties: [String: Int], patterns: [(CompiledPattern, Int)], additional: Int?)
    case propertyNames(Int)
    case minProperties(Int)
    case maxProperties(Int)
    case dependentRequired([(String, [String])])
    case dependentSchemas([(String, Int)])
    case allOf([Int])
    case anyOf([Int])
    case oneOf([Int])
    case not(Int)
    case conditional(if: Int, then: Int?, else: Int?)
    case reference(Int)

    /// The subschemas applied to the same instance (not to a member or an item): a cycle
    /// through these never terminates.
    var inPlaceSubschemas: [Int] {
        switch self {
        case .allOf(let nodes), .anyOf(let nodes), .oneOf(let nodes): nodes
        case .not(let node), .reference(let node): [node]
        case .conditional(let condition, let then, let otherwise): [condition] + [then, otherwise].compactMap { $0 }
        case .dependentSchemas(let entries): entries.map(\.1)
        default: []
        }
    }
}
