import Foundation

/// A task as the server describes it (`Task` in the 2025-11-25 schema).
public struct MCPTask: Sendable, Equatable {
    public enum Status: Sendable, Equatable {
        case working, inputRequired, completed, failed, cancelled
        /// A status this client does not know: treated like `working` (it polls on).
        case other(String)

        init(_ text: String) {
            switch text {
            case "working": self = .working
            case "input_required": self = .inputRequired
            case "completed": self = .completed
            case "failed": self = .failed
            case "cancelled": self = .cancelled
            default: self = .other(text)
            }
        }

        public var text: String {
            switch self {
            case .working: "working"
            case .inputRequired: "input_required"
            case .completed: "completed"
            case .failed: "failed"
            case .cancelled: "cancelled"
            case .other(let text): text
            }
        }

        /// `completed`, `failed` and `cancelled` never change again.
        public var isTerminal: Bool {
            switch self {
            case .completed, .failed, .cancelled: true
            default: false
            }
        }
    }

    public var id: String
    public var status: Status
    public var statusMessage: String?
    /// How long the server asks the client to wait between two `tasks/get`.
    public var pollInterval: Duration?
}

/// What a task-augmented `tools/call` came back with.
public enum TaskCallStart: Sendable {
    /// The server made a task.
    case task(MCPTask)
    /// The server answered at once, as a plain call (it may ignore `task`).
    case answered(ToolCallResult)
}

/// Tasks (spec 2025-11-25, `basic/utilities/tasks`): a long call becomes a task the client polls.
///
/// Where the spec is ambiguous we choose, and say so:
/// - An unknown or expired task id is `-32602` (Invalid params), as `tasks/get` documents; we
///   treat any JSON-RPC error to `tasks/get` or `tasks/result` as final for the task, and
///   `-32602` as "the server no longer knows the task".
/// - A tool whose `taskSupport` is `required` called without a task may be refused with `-32601`
///   or `-32600` (the spec names both); we never send such a call, so either is just an error.
/// - The client's own `tasks` capability (to receive tasks from the server) is not declared: we
///   only send task-augmented requests, which needs the *server's* capability alone.
extension MCPConnection {
    /// `tools/call` with `task: {ttl}`.
    /// - Parameters:
    ///   - ttl: How long the server should keep the task and its result after creation.
    ///   - timeout: How long the creation may take without a sign of life.
    public func callToolAsTask(
        name: String, argumentsJSON: String, progressToken: String, ttl: Duration, timeout: Duration, repeatable: Bool
    ) async throws -> TaskCallStart {
        let ttlMilliseconds = Int64(Backoff.milliseconds(ttl))
        let params = "{\"name\":" + JSONScanner.quote(name) + ",\"arguments\":" + argumentsJSON
            + ",\"task\":{\"ttl\":\(ttlMilliseconds)},\"_meta\":{\"progressToken\":" + JSONScanner.quote(progressToken) + "}}"
        let response = try await request("tools/call", params: params, timeout: timeout, progressToken: progressToken, repeatable: repeatable)
        return try response.withResult { scanner, range -> TaskCallStart in
            guard scanner.firstByte(of: range) == UInt8(ascii: "{") else {
                throw MCPSessionError(.protocolError, "tools/call result is not an object")
            }
            if let task = try scanner.members(of: range).first(where: { $0.key == "task" }) {
                return .task(try Self.task(scanner, task.value, method: "tools/call"))
            }
            return .answered(try Self.toolCallResult(scanner, range))
        }
    }

    /// `tasks/get`: the task's current state.
    public func getTask(_ id: String, timeout: Duration) async throws -> MCPTask {
        let response = try await request("tasks/get", params: "{\"taskId\":" + JSONScanner.quote(id) + "}", timeout: timeout)
        return try response.withResult { scanner, range in try Self.task(scanner, range, method: "tasks/get") }
    }

    /// `tasks/result`: blocks until the task is terminal, then returns what the call would have.
    public func taskResult(_ id: String, timeout: Duration) async throws -> ToolCallResult {
        let response = try await request("tasks/result", params: "{\"taskId\":" + JSONScanner.quote(id) + "}", timeout: timeout)
        return try response.withResult { scanner, range in
            guard scanner.firstByte(of: range) == UInt8(ascii: "{") else {
                throw MCPSessionError(.protocolError, "tasks/result result is not an object")
            }
            return try Self.toolCallResult(scanner, range)
        }
    }

    /// `tasks/cancel`. A task already terminal is answered `-32602`, which is not a failure here.
    public func cancelTask(_ id: String, timeout: Duration) async throws {
        do {
            _ = try await request("tasks/cancel", params: "{\"taskId\":" + JSONScanner.quote(id) + "}", timeout: timeout)
        } catch let error as MCPSessionError where error.rpcCode == -32602 {
            return
        }
    }

    static func task(_ scanner: JSONScanner, _ range: Range<Int>, method: String) throws -> MCPTask {
        guard scanner.firstByte(of: range) == UInt8(ascii: "{") else { throw MCPSessionError(.protocolError, "\(method): the task is not an object") }
        var task = MCPTask(id: "", status: .working)
        var status: String?
        for member in try scanner.members(of: range) {
            switch member.key {
            case "taskId": task.id = scanner.string(member.value) ?? ""
            case "status": status = scanner.string(member.value)
            case "statusMessage": task.statusMessage = scanner.string(member.value)
            case "pollInterval":
                if let ms = Double(scanner.text(member.value)), ms.isFinite, ms >= 0 { task.pollInterval = .milliseconds(Int64(min(ms, 3_600_000))) }
            default: break
            }
        }
        guard !task.id.isEmpty, task.id.utf8.count <= 1024 else { throw MCPSessionError(.protocolError, "\(method): the task has no valid taskId") }
        guard let status else { throw MCPSessionError(.protocolError, "\(method): the task has no status") }
        task.status = MCPTask.Status(status)
        return task
    }

    static func toolCallResult(_ scanner: JSONScanner, _ range: Range<Int>) throws -> ToolCallResult {
        var isError = false
        for member in try scanner.members(of: range) where member.key == "isError" {
            isError = scanner.isTrue(member.value)
        }
        let text = scanner.text(range)
        return ToolCallResult(resultJSON: text, isError: isError, errorText: isError ? contentText(text) : nil)
    }
}
