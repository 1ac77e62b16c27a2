import Foundation

/// One tool of a server's `tools/list`, with its schemas as the exact text the server sent:
/// nothing is decoded and re-encoded, so every JSON Schema keyword survives (a schema passed
/// on, as the conformance runner's `json-schema-2020-12-preservation` asks, is the server's own).
public struct ListedTool: Sendable {
    public var name: String
    public var description: String?
    /// `inputSchema`, verbatim; `{"type":"object"}` when the server gives none.
    public var inputSchemaJSON: String
    /// `outputSchema`, verbatim, if the tool declares one.
    public var outputSchemaJSON: String?
    /// The whole tool object, verbatim.
    public var json: String

    /// Reads one element of `tools/list`; nil when it is not an object with a string `name`.
    init?(json: String) {
        let bytes = Array(json.utf8)
        let parsed: (String, String?, String?, String?)? = bytes.withUnsafeBytes { buffer in
            let scanner = JSONScanner(bytes: buffer)
            guard let members = try? scanner.members() else { return nil }
            var name: String?
            var description: String?
            var input: String?
            var output: String?
            for member in members {
                switch member.key {
                case "name": name = scanner.string(member.value)
                case "description": description = scanner.string(member.value)
                case "inputSchema": input = scanner.text(member.value)
                case "outputSchema": output = scanner.text(member.value)
                default: break
                }
            }
            return name.map { ($0, description, input, output) }
        }
        guard let (name, description, input, output) = parsed else { return nil }
        self.name = name
        self.description = description
        inputSchemaJSON = input ?? #"{"type":"object"}"#
        outputSchemaJSON = output == "null" ? nil : output
        self.json = json
    }

    /// The first line of the description, for a listing.
    public var summary: String {
        description?.split(whereSeparator: \.isNewline).first.map { String($0).trimmingCharacters(in: .whitespaces) } ?? ""
    }

    /// The schemas compiled as the daemon compiles a synced tool's.
    var schemas: ToolSchemas {
        ToolSchemas(revision: 0, inputJSON: inputSchemaJSON, outputJSON: outputSchemaJSON)
    }
}
