import Foundation
import Logging

/// Runs one claimed execution: checks the row, calls the tool, and says how it ended.
struct ExecutionRunner: Sendable {
    let pool: SessionPool
    let logger: Logger
    /// Called just before `tools/call` is handed to the server's session (benchmark hook).
    let onCallStarted: (@Sendable (UUID) -> Void)?

    /// - Parameter releaseOnDisconnect: Whether a lost session means "hand back to the queue"
    ///   (the daemon is stopping) rather than "failed".
    func run(_ execution: ClaimedExecution, releaseOnDisconnect: @Sendable () -> Bool) async -> Completion {
        let started = ContinuousClock.now
        func finish(_ status: ExecutionStatus, output: String? = nil, error: String? = nil) -> Completion {
            let elapsed = ContinuousClock.now - started
            let milliseconds = Int(elapsed.components.seconds) * 1000 + Int(elapsed.components.attoseconds / 1_000_000_000_000_000)
            return .finished(ExecutionOutcome(
                id: execution.id, status: status, outputJSON: output, errorMessage: error,
                completedAt: Date(), durationMilliseconds: milliseconds))
        }

        if let problem = Self.validate(execution) { return finish(.error, error: problem) }

        do {
            let session = try await pool.session(for: execution.server)
            onCallStarted?(execution.id)
            let result = try await session.connection.callTool(
                name: execution.toolName,
                argumentsJSON: execution.argumentsJSON,
                progressToken: execution.id.uuidString.lowercased(),
                timeout: .seconds(execution.timeoutSeconds))
            if result.isError { return finish(.error, output: result.resultJSON, error: result.errorText) }
            return finish(.success, output: result.resultJSON)
        } catch let error as MCPSessionError {
            switch error.code {
            case _ where releaseOnDisconnect() && error.code != .timeout && error.code != .remoteError:
                return .release(execution.id)
            case .timeout:
                return finish(.timeout, error: "tool '\(execution.toolName)' did not answer within \(execution.timeoutSeconds) s")
            default:
                return finish(.error, error: error.message)
            }
        } catch {
            return finish(.error, error: "\(error)")
        }
    }

    /// Why the row cannot run, or nil.
    static func validate(_ execution: ClaimedExecution) -> String? {
        let server = execution.server
        if !server.isActive { return "server '\(server.name)' is inactive" }
        if execution.toolRemoved { return "tool '\(execution.toolName)' is no longer offered by server '\(server.name)'" }
        if !execution.toolEnabled { return "tool '\(execution.toolName)' is disabled" }
        if let kind = jsonKind(execution.argumentsJSON), kind != "object" {
            return "input_parameters must be a JSON object, got \(kind)"
        }
        return nil
    }

    /// The kind of JSON value a jsonb text holds.
    static func jsonKind(_ text: String) -> String? {
        guard let first = text.utf8.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x09 && $0 != 0x0D }) else { return nil }
        switch first {
        case UInt8(ascii: "{"): return "object"
        case UInt8(ascii: "["): return "an array"
        case UInt8(ascii: "\""): return "a string"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return "a boolean"
        case UInt8(ascii: "n"): return "null"
        default: return "a number"
        }
    }
}
