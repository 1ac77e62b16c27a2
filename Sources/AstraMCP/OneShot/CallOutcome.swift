/// What a one-shot `tools/call` came back with, and what an operator reads of it.
public struct CallOutcome: Sendable {
    /// The whole `CallToolResult`, verbatim.
    public var resultJSON: String
    /// `isError: true`: the tool failed, and said why in its content.
    public var isError: Bool
    /// The text content of an error result.
    public var errorText: String?
    /// Why the successful result breaks the tool's `outputSchema` (the daemon would end such an
    /// execution `error`), or nil.
    public var outputProblem: String?
    /// One entry per `content` item: its text, or a bracketed note for an image, audio clip or
    /// resource.
    public var contentLines: [String]
    /// `structuredContent`, verbatim.
    public var structuredContentJSON: String?

    init(_ result: ToolCallResult, outputProblem: String?) {
        resultJSON = result.resultJSON
        isError = result.isError
        errorText = result.errorText
        self.outputProblem = outputProblem
        (contentLines, structuredContentJSON) = Self.read(result.resultJSON)
    }

    /// The content lines and the verbatim `structuredContent` of a result.
    static func read(_ resultJSON: String) -> ([String], String?) {
        let bytes = Array(resultJSON.utf8)
        let (contentText, structured): (String?, String?) = bytes.withUnsafeBytes { buffer in
            let scanner = JSONScanner(bytes: buffer)
            guard let members = try? scanner.members() else { return (nil, nil) }
            var content: String?
            var structured: String?
            for member in members {
                if member.key == "content" { content = scanner.text(member.value) }
                if member.key == "structuredContent", scanner.text(member.value) != "null" { structured = scanner.text(member.value) }
            }
            return (content, structured)
        }
        // Display only, never stored: a full parse is fine here.
        guard let contentText, case .array(let items) = (try? JSONValue.parse(contentText, maxDepth: 512)) ?? .null else { return ([], structured) }
        return (items.map(line), structured)
    }

    /// How one content item reads.
    static func line(_ item: JSONValue) -> String {
        guard case .object(let fields) = item else { return "[content that is not an object]" }
        func string(_ key: String, in object: [String: JSONValue] = fields) -> String? {
            if case .string(let value) = object[key] { return value }
            return nil
        }
        switch string("type") {
        case "text":
            return string("text") ?? ""
        case let kind? where kind == "image" || kind == "audio":
            let size = (string("data")?.utf8.count ?? 0) * 3 / 4
            return "[\(kind) \(string("mimeType") ?? "of unknown type"), about \(size) bytes]"
        case "resource_link":
            return "[resource link \(string("uri") ?? "without uri")]"
        case "resource":
            guard case .object(let resource) = fields["resource"] else { return "[resource]" }
            return string("text", in: resource) ?? "[resource \(string("uri", in: resource) ?? "without uri"), \(string("mimeType", in: resource) ?? "binary")]"
        case let kind?:
            return "[\(kind) content]"
        case nil:
            return "[content without a type]"
        }
    }
}
