import MCP

/// The arguments of one `tools/call`, with typed accessors that explain
/// exactly what is wrong when an argument is missing or of the wrong type.
struct ToolArguments: Sendable {
    private let values: [String: Value]

    /// Rejects arguments the tool's input schema does not list.
    init(_ values: [String: Value], schema: Value) throws(ToolArgumentError) {
        let known = schema.objectValue?["properties"]?.objectValue ?? [:]
        if let unknown = values.keys.sorted().first(where: { known[$0] == nil }) {
            throw ToolArgumentError("Unknown argument '\(unknown)'.")
        }
        self.values = values
    }

    func string(_ name: String) throws(ToolArgumentError) -> String {
        switch try value(name, expected: "a string") {
        case .string(let string):
            return string
        case .data(let mimeType, let data):
            // The SDK decodes any string shaped like a data URL as `.data`;
            // hand it back as a (re-encoded) data URL string.
            return data.dataURLEncoded(mimeType: mimeType)
        case let other:
            throw .wrongType(name, expected: "a string", got: other)
        }
    }

    /// An integer; a float with an integral value (`2.0`) counts, as in JSON Schema.
    func integer(_ name: String) throws(ToolArgumentError) -> Int {
        switch try value(name, expected: "an integer") {
        case .int(let integer):
            return integer
        case .double(let double) where Int(exactly: double) != nil:
            return Int(exactly: double)!
        case let other:
            throw .wrongType(name, expected: "an integer", got: other)
        }
    }

    func number(_ name: String) throws(ToolArgumentError) -> Double {
        switch try value(name, expected: "a number") {
        case .int(let integer):
            return Double(integer)
        case .double(let double):
            return double
        case let other:
            throw .wrongType(name, expected: "a number", got: other)
        }
    }

    private func value(_ name: String, expected: String) throws(ToolArgumentError) -> Value {
        guard let value = values[name] else {
            throw ToolArgumentError("Missing required argument '\(name)' (\(expected)).")
        }
        return value
    }
}

/// Arguments a tool cannot work with; reported to the client as a tool error.
struct ToolArgumentError: Error {
    let message: String

    init(_ message: String) {
        self.message = message
    }

    static func wrongType(_ name: String, expected: String, got value: Value) -> Self {
        ToolArgumentError("Argument '\(name)' must be \(expected), got \(value.jsonTypeName).")
    }
}

extension Value {
    /// The JSON type of the value, for error messages.
    var jsonTypeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int: "an integer"
        case .double: "a number"
        case .string, .data: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}
