import Foundation
import MCP

/// The MCP revisions astra-mcpd speaks, taken from the official SDK; we ask for the newest.
enum MCPProtocol {
    static let supportedVersions: Set<String> = MCP.Version.supported
    static let requestedVersion = "2025-11-25"
    static let clientName = "astra-mcpd"
    static let clientVersion = "0.1.0"
}

/// What the server said about itself in `initialize`.
public struct MCPServerInfo: Sendable, Equatable {
    /// The negotiated protocol revision.
    public var protocolVersion: String
    public var name: String
    public var version: String
    /// Whether the server sends `notifications/tools/list_changed`.
    public var toolsListChanged: Bool
    /// Whether the server takes task-augmented `tools/call` (`capabilities.tasks.requests.tools.call`).
    public var supportsToolTasks = false
}

/// The outcome of `tools/call` as far as the queue needs it; the result stays verbatim.
public struct ToolCallResult: Sendable {
    /// The whole `CallToolResult` as the server sent it (content, structuredContent, isError).
    public var resultJSON: String
    /// `isError: true` in the result.
    public var isError: Bool
    /// The text content of an error result, for `error_message`.
    public var errorText: String?
}

extension MCPConnection {
    /// Performs the initialize handshake and checks the negotiated protocol revision.
    public func initialize(timeout: Duration) async throws -> MCPServerInfo {
        let params = """
            {"protocolVersion":"\(MCPProtocol.requestedVersion)","capabilities":{},\
            "clientInfo":{"name":"\(MCPProtocol.clientName)","version":"\(MCPProtocol.clientVersion)"}}
            """
        let response = try await request("initialize", params: params, timeout: timeout)
        let info = try response.withResult { scanner, range -> MCPServerInfo in
            var info = MCPServerInfo(protocolVersion: "", name: "", version: "", toolsListChanged: false)
            for member in try scanner.members(of: range) {
                switch member.key {
                case "protocolVersion":
                    info.protocolVersion = scanner.string(member.value) ?? ""
                case "serverInfo":
                    for field in try scanner.members(of: member.value) {
                        if field.key == "name" { info.name = scanner.string(field.value) ?? "" }
                        if field.key == "version" { info.version = scanner.string(field.value) ?? "" }
                    }
                case "capabilities":
                    for capability in try scanner.members(of: member.value) {
                        guard scanner.firstByte(of: capability.value) == UInt8(ascii: "{") else { continue }
                        if capability.key == "tools" {
                            for option in try scanner.members(of: capability.value) where option.key == "listChanged" {
                                info.toolsListChanged = scanner.isTrue(option.value)
                            }
                        } else if capability.key == "tasks" {
                            info.supportsToolTasks = Self.declaresToolCallTasks(scanner, capability.value)
                        }
                    }
                default:
                    break
                }
            }
            return info
        }
        guard MCPProtocol.supportedVersions.contains(info.protocolVersion) else {
            close(MCPSessionError(.unsupportedProtocolVersion, "server answered protocol version '\(info.protocolVersion)', which astra-mcpd does not support (supported: \(MCPProtocol.supportedVersions.sorted().joined(separator: ", ")))"))
            throw closedReason!
        }
        notify("notifications/initialized", params: nil)
        return info
    }

    /// `tasks.requests.tools.call` is present (an object): the server takes task-augmented calls.
    private static func declaresToolCallTasks(_ scanner: JSONScanner, _ tasks: Range<Int>) -> Bool {
        func object(_ range: Range<Int>, _ key: String) -> Range<Int>? {
            guard scanner.firstByte(of: range) == UInt8(ascii: "{"), let members = try? scanner.members(of: range) else { return nil }
            return members.first { $0.key == key }.map(\.value)
        }
        guard let requests = object(tasks, "requests"), let tools = object(requests, "tools"), let call = object(tools, "call") else {
            return false
        }
        return scanner.firstByte(of: call) == UInt8(ascii: "{")
    }

    /// Calls a tool.
    ///
    /// - Parameters:
    ///   - name: The tool's name.
    ///   - argumentsJSON: The arguments object as JSON text; sent verbatim.
    ///   - progressToken: A token under which the server may report progress; each report
    ///     starts `timeout` again, and ``MCPConnection/cancel(progressToken:reason:)`` finds the call by it.
    ///   - timeout: How long the call may go without a reply or a progress report.
    ///   - maxDuration: The cap on the whole call, which progress does not extend.
    ///   - repeatable: Whether the tool is idempotent, so that the call may reach it twice.
    public func callTool(
        name: String,
        argumentsJSON: String,
        progressToken: String?,
        timeout: Duration,
        maxDuration: Duration? = nil,
        repeatable: Bool = true
    ) async throws -> ToolCallResult {
        var params = "{\"name\":" + JSONScanner.quote(name) + ",\"arguments\":" + argumentsJSON
        if let progressToken { params += ",\"_meta\":{\"progressToken\":" + JSONScanner.quote(progressToken) + "}" }
        params += "}"
        let response = try await request(
            "tools/call", params: params, timeout: timeout, maxDuration: maxDuration, progressToken: progressToken, repeatable: repeatable)
        return try response.withResult { scanner, range -> ToolCallResult in
            guard scanner.firstByte(of: range) == UInt8(ascii: "{") else {
                throw MCPSessionError(.protocolError, "tools/call result is not an object")
            }
            return try Self.toolCallResult(scanner, range)
        }
    }

    /// Lists every tool, following `nextCursor` through all pages.
    /// - Returns: The tools as JSON object texts, verbatim.
    public func listTools(timeout: Duration, maxPages: Int = 1000) async throws -> [String] {
        var tools: [String] = []
        var cursor: String?
        for _ in 0..<maxPages {
            let params = cursor.map { "{\"cursor\":" + JSONScanner.quote($0) + "}" }
            let response = try await request("tools/list", params: params, timeout: timeout)
            cursor = nil
            try response.withResult { scanner, range in
                for member in try scanner.members(of: range) {
                    if member.key == "nextCursor" { cursor = scanner.string(member.value) }
                    if member.key == "tools" { tools += try Self.arrayElements(member.value, scanner: scanner) }
                }
            }
            if cursor == nil || cursor == "" { return tools }
        }
        throw MCPSessionError(.protocolError, "tools/list did not end after \(maxPages) pages")
    }

    /// Pings the server.
    public func ping(timeout: Duration) async throws {
        _ = try await request("ping", params: nil, timeout: timeout)
    }

    private static func arrayElements(_ range: Range<Int>, scanner: JSONScanner) throws -> [String] {
        var i = scanner.skipWhitespace(range.lowerBound, end: range.upperBound)
        guard i < range.upperBound, scanner.bytes[i] == UInt8(ascii: "[") else {
            throw MCPSessionError(.protocolError, "tools/list: tools is not an array")
        }
        i += 1
        var elements: [String] = []
        while true {
            i = scanner.skipWhitespace(i, end: range.upperBound)
            guard i < range.upperBound else { throw MCPSessionError(.protocolError, "tools/list: unterminated array") }
            switch scanner.bytes[i] {
            case UInt8(ascii: "]"): return elements
            case UInt8(ascii: ","): i += 1
            default:
                let end = try scanner.skipValue(i, end: range.upperBound)
                elements.append(scanner.text(i..<end))
                i = end
            }
        }
    }

    /// The text items of a result's `content`, joined; the error path only, so Foundation's
    /// parser is fine here.
    static func contentText(_ resultJSON: String) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(resultJSON.utf8)) as? [String: Any],
            let content = object["content"] as? [[String: Any]]
        else { return "tool reported an error without content" }
        let texts = content.compactMap { $0["text"] as? String }
        return texts.isEmpty ? "tool reported an error without text content" : texts.joined(separator: "\n")
    }
}
