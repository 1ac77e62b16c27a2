/// A JSON Schema (2020-12, as MCP servers emit it), compiled once and then used to validate
/// many instances: a tool's `inputSchema` against each execution's arguments, its
/// `outputSchema` against each reply's `structuredContent`.
///
/// Covered: `type`, `enum`, `const`, the numeric bounds and `multipleOf`, `minLength` and
/// `maxLength` (in code points), `pattern`, `format` (`date-time`, `email` and `uri` are
/// asserted; see FormatCheckers.swift), `items`, `prefixItems`, `contains`, `minItems`,
/// `maxItems`, `uniqueItems`, `properties`, `patternProperties`, `additionalProperties`,
/// `required`, `propertyNames`, `minProperties`, `maxProperties`, `dependentRequired`,
/// `dependentSchemas`, `allOf`, `anyOf`, `oneOf`, `not`, `if`/`then`/`else`, boolean schemas,
/// and `$ref` to JSON pointers in the same document (`#`, `#/$defs/...`,
/// `#/definitions/...`). Draft-07 forms still emitted by servers work as they meant:
/// `items` as an array is `prefixItems` (with `additionalItems` as the rest), `dependencies`
/// is `dependentRequired`/`dependentSchemas`, boolean `exclusiveMinimum`/`exclusiveMaximum`
/// make `minimum`/`maximum` exclusive. Unknown keywords are ignored, as the spec requires;
/// `unevaluatedProperties`, `unevaluatedItems`, `$dynamicRef` and `$anchor` are not
/// supported (ignored, or for an anchor `$ref` a schema error).
///
/// A `$ref` outside the document (`http:`, `file:`, another `$id`) is never fetched: it is
/// a ``JSONSchemaError``. So is a `$ref` cycle that never descends into the instance.
public struct JSONSchema: Sendable {
    private let nodes: [SchemaNode]
    private let root: Int
    /// `{}`, `true`: nothing to evaluate.
    private let acceptsEverything: Bool
    /// Only a `type`: checked without setting up an evaluation (`{"type": "object"}`).
    private let onlyType: JSONTypeSet?

    /// Compiles a schema given as JSON text.
    public init(compiling schemaJSON: String) throws(JSONSchemaError) {
        let document: JSONValue
        do {
            document = try JSONValue.parse(schemaJSON, maxDepth: 512)
        } catch {
            throw JSONSchemaError(kind: .malformedJSON(error), location: "#")
        }
        try self.init(compiling: document)
    }

    /// Compiles a schema given as a parsed document.
    public init(compiling document: JSONValue) throws(JSONSchemaError) {
        var compiler = JSONSchemaCompiler(document: document)
        (nodes, root) = try compiler.compile()
        let assertions = nodes[root].assertions
        acceptsEverything = assertions.isEmpty
        if assertions.count == 1, case .type(let types) = assertions[0] { onlyType = types } else { onlyType = nil }
    }

    /// Whether every JSON object is valid (`{}`, `true`, `{"type": "object"}`): then arguments,
    /// which are always an object, need not even be parsed.
    var acceptsEveryObject: Bool {
        acceptsEverything || (onlyType.map { $0.contains(.object) } ?? false)
    }

    /// The ways `instance` violates the schema, at most `maxViolations` of them, in the order
    /// found (the first is the one to show); empty when it is valid.
    public func validate(_ instance: JSONValue, maxViolations: Int = 10) -> [JSONSchemaViolation] {
        if acceptsEverything { return [] }
        if let onlyType {
            return onlyType.admits(instance) ? [] : [JSONSchemaViolation(path: "$", rule: "type \(onlyType.listed), got \(instance.typeName)")]
        }
        var evaluation = JSONSchemaEvaluation(nodes: nodes, limit: maxViolations)
        evaluation.evaluate(root, instance, depth: 0)
        return evaluation.violations
    }

    /// Whether `instance` is valid; cheaper than ``validate(_:maxViolations:)`` when the
    /// violations are not needed (stops at the first one, builds no messages).
    public func isValid(_ instance: JSONValue) -> Bool {
        validate(instance, maxViolations: 1).isEmpty
    }
}
