/// Why a schema could not be compiled.
///
/// A tool whose schema does not compile cannot be validated against; the caller decides
/// what that means (the daemon reports it instead of calling the tool blind).
public struct JSONSchemaError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The schema text is not JSON.
        case malformedJSON(JSONParseError)
        /// A schema (the root or a subschema) is neither an object nor a boolean.
        case notASchema
        /// A keyword's value has the wrong type or is out of range (`"minimum": "3"`,
        /// `"minLength": -1`, `"required": [1]`).
        case invalidKeyword(String)
        /// A `pattern` or `patternProperties` key is not a regular expression.
        case invalidPattern(String)
        /// A `$ref` that points outside this schema (`http:`, `file:`, another `$id`): such
        /// references are never fetched.
        case remoteReference(String)
        /// A `$ref` whose JSON pointer does not lead to a subschema.
        case unresolvableReference(String)
        /// References that lead back to themselves without descending into the instance
        /// (`{"$ref": "#"}`), which would never terminate.
        case referenceCycle(String)
        /// Subschemas nested deeper than the compiler's limit.
        case tooDeep(limit: Int)
    }

    public var kind: Kind
    /// Where in the schema, as a JSON pointer fragment (`#/properties/q/minimum`).
    public var location: String

    public var description: String {
        switch kind {
        case .malformedJSON(let error): "schema is not JSON: \(error)"
        case .notASchema: "invalid schema at \(location): a schema must be an object or a boolean"
        case .invalidKeyword(let reason): "invalid schema at \(location): \(reason)"
        case .invalidPattern(let pattern): "invalid schema at \(location): '\(pattern)' is not a valid regular expression"
        case .remoteReference(let ref): "invalid schema at \(location): $ref '\(ref)' points outside the schema; remote references are never fetched"
        case .unresolvableReference(let ref): "invalid schema at \(location): $ref '\(ref)' does not resolve to a subschema"
        case .referenceCycle(let cycle): "invalid schema at \(location): $ref cycle that never descends into the instance (\(cycle))"
        case .tooDeep(let limit): "invalid schema at \(location): subschemas nested deeper than \(limit)"
        }
    }
}
