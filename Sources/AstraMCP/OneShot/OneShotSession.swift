import Foundation

/// A live session to one server, for a few requests made by hand (`astra-mcpd call`).
public struct OneShotSession: Sendable {
    /// The server, as the session pool started it.
    public let server: ServerDescriptor
    /// What the server said about itself in `initialize`.
    public let info: MCPServerInfo
    let connection: MCPConnection
    /// How long a request may go without a reply or a progress notification.
    let timeout: Duration
    /// The cap on a call, which progress does not extend.
    let maxDuration: Duration

    /// Every page of `tools/list`. Elements that are not objects with a `name` are skipped.
    public func listTools() async throws(OneShotError) -> [ListedTool] {
        do {
            return try await connection.listTools(timeout: timeout).compactMap { ListedTool(json: $0) }
        } catch {
            throw Self.requestFailure(error)
        }
    }

    /// Calls `name` with `argumentsJSON` (a JSON object), as the daemon calls a tool: the
    /// arguments are checked against `tool`'s inputSchema before anything is sent, and a
    /// successful result's `structuredContent` against its outputSchema. Without `tool` (the
    /// server does not list it) the call goes out unchecked, and the server says what it makes
    /// of it.
    ///
    /// The call carries a progress token: each progress notification starts `timeout` again.
    /// It is never sent twice (the tool may not be idempotent).
    public func call(_ name: String, argumentsJSON: String, tool: ListedTool?) async throws(OneShotError) -> CallOutcome {
        let schemas = tool?.schemas
        if let problem = schemas?.inputProblem(argumentsJSON: argumentsJSON, toolName: name) {
            // The daemon's words are about the row's column; here the arguments are the operator's.
            throw OneShotError(.usage, problem.replacingOccurrences(of: "input_parameters", with: "the arguments"))
        }
        let result: ToolCallResult
        do {
            result = try await connection.callTool(
                name: name, argumentsJSON: argumentsJSON, progressToken: UUID().uuidString.lowercased(), timeout: timeout,
                maxDuration: max(maxDuration, timeout), repeatable: false)
        } catch {
            throw Self.requestFailure(error)
        }
        let outputProblem = result.isError ? nil : schemas?.outputProblem(resultJSON: result.resultJSON, toolName: name)
        return CallOutcome(result, outputProblem: outputProblem)
    }

    private static func requestFailure(_ error: any Error) -> OneShotError {
        if let error = error as? MCPSessionError { return .request(error) }
        return OneShotError(.requestFailed, "\(error)")
    }
}
