import Foundation

/// One tool's schemas, compiled for one `schema_revision`, and the checks made with them: a
/// call's arguments against `inputSchema` before anything is sent, and a reply's
/// `structuredContent` against `outputSchema`, as the spec asks clients to.
struct ToolSchemas: Sendable {
    var revision: Int64
    var input: Result<JSONSchema, JSONSchemaError>
    /// nil when the tool declares no `outputSchema`.
    var output: Result<JSONSchema, JSONSchemaError>?

    init(revision: Int64, inputJSON: String, outputJSON: String?) {
        self.revision = revision
        input = Result { () throws(JSONSchemaError) in try JSONSchema(compiling: inputJSON) }
        output = outputJSON.map { text in Result { () throws(JSONSchemaError) in try JSONSchema(compiling: text) } }
    }

    /// Why `argumentsJSON` may not be sent to tool `toolName`, or nil.
    func inputProblem(argumentsJSON: String, toolName: String) -> String? {
        let schema: JSONSchema
        switch input {
        case .success(let compiled): schema = compiled
        case .failure(let error):
            return "tool '\(toolName)' has an inputSchema the daemon cannot use (\(error.description)), so its arguments cannot be validated"
        }
        // input_parameters is a JSON object (checked before): a schema that takes any costs nothing.
        if schema.acceptsEveryObject { return nil }
        let arguments: JSONValue
        do {
            arguments = try JSONValue.parse(argumentsJSON)
        } catch {
            return "input_parameters cannot be read: \(error.description)"
        }
        let violations = schema.validate(arguments, maxViolations: 4)
        guard let first = violations.first else { return nil }
        return "input_parameters do not match the inputSchema of tool '\(toolName)': \(first)" + Self.more(violations)
    }

    /// Why the successful result `resultJSON` of tool `toolName` breaks its `outputSchema`, or nil.
    func outputProblem(resultJSON: String, toolName: String) -> String? {
        guard let output else { return nil }
        let schema: JSONSchema
        switch output {
        case .success(let compiled): schema = compiled
        case .failure(let error):
            return "tool '\(toolName)' has an outputSchema the daemon cannot use (\(error.description)), so its result cannot be validated"
        }
        guard case .object(let result) = (try? JSONValue.parse(resultJSON, maxDepth: 512)) ?? .null else {
            return "the result of tool '\(toolName)' cannot be read as a JSON object"
        }
        guard let structured = result["structuredContent"] else {
            return "tool '\(toolName)' declares an outputSchema, but its result has no structuredContent"
        }
        let violations = schema.validate(structured, maxViolations: 4)
        guard let first = violations.first else { return nil }
        return "the structuredContent of tool '\(toolName)' does not match its outputSchema: \(first)" + Self.more(violations)
    }

    /// Validation stops at 4 violations: the message shows the first and counts the others.
    private static func more(_ violations: [JSONSchemaViolation]) -> String {
        switch violations.count {
        case 0, 1: ""
        case 4: " (and at least 3 more)"
        default: " (and \(violations.count - 1) more)"
        }
    }
}
