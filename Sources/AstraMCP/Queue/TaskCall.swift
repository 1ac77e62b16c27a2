import Foundation
import Logging
import Synchronization

/// One execution run as an MCP task: created with a task-augmented `tools/call` (or, when an
/// earlier attempt created it, resumed by its stored id), polled with `tasks/get` as often as
/// the server's `pollInterval` asks, and finished with `tasks/result`. The task id is stored on
/// the execution the moment the server creates it, so a daemon that dies meanwhile resumes the
/// same task and the tool never runs twice.
///
/// A cancel (``Control/cancel()``) becomes `tasks/cancel`; the hard cap (`max_duration_seconds`)
/// does too, and ends the call `timeout`. `input_required` goes straight to `tasks/result`,
/// where the server's questions arrive and are declined: there is no user to ask.
struct TaskCall {
    /// How a running task call is stopped from outside.
    final class Control: Sendable {
        private let cancelled = Atomic<Bool>(false)
        private let wake = WakeSignal()
        /// The task's id once known, and whether it is stored on the execution (only then may
        /// another attempt resume it instead of calling again).
        private let task = Mutex<(id: String?, stored: Bool)>((nil, false))

        func cancel() {
            cancelled.store(true, ordering: .relaxed)
            wake.signal()
        }

        var isCancelled: Bool { cancelled.load(ordering: .relaxed) }
        var taskID: String? { task.withLock { $0.id } }
        /// The task's id is stored on the execution.
        var isStored: Bool { task.withLock { $0.stored } }
        func known(_ id: String, stored: Bool) { task.withLock { $0 = (id, stored) } }
        /// Sleeps `duration`, or until cancelled.
        func pause(_ duration: Duration) async { await wake.wait(timeout: duration) }
    }

    /// The shortest and longest waits between two polls, whatever the server asks.
    static let pollBounds = (min: Duration.milliseconds(50), max: Duration.seconds(30))
    /// The wait when the server names none.
    static let defaultPoll = Duration.seconds(1)

    let connection: MCPConnection
    let execution: ClaimedExecution
    let store: QueueStore
    /// How long one request may go without a sign of life (`timeout_seconds`).
    let idleTimeout: Duration
    /// The cap on the whole call, from this attempt's start.
    let maxDuration: Duration
    let control: Control
    let logger: Logger

    func run() async throws -> ToolCallResult {
        let deadline = ContinuousClock.now.advanced(by: maxDuration)
        let token = execution.id.uuidString.lowercased()
        // The token stays valid until the task ends: its progress keeps counting.
        connection.holdProgressToken(token)
        defer { connection.releaseProgressToken(token) }

        var task: MCPTask
        if let stored = execution.taskID {
            control.known(stored, stored: true)
            logger.debug("resuming the task of an earlier attempt", metadata: execution.logMetadata.merging(["task": "\(stored)"]) { $1 })
            task = try await get(stored)
        } else {
            let ttl = maxDuration + .seconds(600)  // the result outlives a restart after the end
            switch try await connection.callToolAsTask(
                name: execution.toolName, argumentsJSON: execution.argumentsJSON, progressToken: token, ttl: ttl, timeout: idleTimeout,
                repeatable: execution.idempotent)
            {
            case .answered(let result):
                return result
            case .task(let created):
                task = created
                // Stored, or not: then the call is like any other sent call (never repeated).
                control.known(created.id, stored: await record(created, durably: true))
            }
        }

        var lastStatus = task.status
        while !task.status.isTerminal && task.status != .inputRequired {
            if control.isCancelled { break }
            let left = ContinuousClock.now.duration(to: deadline)
            if left <= .zero { break }
            let wait = min(max(task.pollInterval ?? Self.defaultPoll, Self.pollBounds.min), Self.pollBounds.max)
            await control.pause(min(wait, left))
            if control.isCancelled || ContinuousClock.now >= deadline { break }
            task = try await get(task.id)
            if task.status != lastStatus {
                lastStatus = task.status
                await record(task, durably: false)
            }
        }
        if control.isCancelled {
            try? await connection.cancelTask(task.id, timeout: idleTimeout)
            await record(MCPTask(id: task.id, status: .cancelled), durably: false)
            throw MCPSessionError(.cancelled, "task \(task.id) cancelled")
        }
        if !task.status.isTerminal && task.status != .inputRequired {
            try? await connection.cancelTask(task.id, timeout: idleTimeout)
            var error = MCPSessionError(.timeout, "task \(task.id) ran past its cap")
            error.timeoutLimit = .maxDuration
            throw error
        }
        let neededInput = task.status == .inputRequired
        do {
            var result = try await connection.taskResult(task.id, timeout: idleTimeout)
            if neededInput && result.isError {
                result.errorText = Self.declinedInput(task, then: result.errorText)
            }
            await record(MCPTask(id: task.id, status: result.isError ? .failed : .completed), durably: false)
            return result
        } catch var error as MCPSessionError where error.code == .remoteError {
            if neededInput { error.message = Self.declinedInput(task, then: error.message) }
            throw error
        }
    }

    /// `tasks/get`, with a task the server forgot said plainly.
    private func get(_ id: String) async throws -> MCPTask {
        do {
            return try await connection.getTask(id, timeout: idleTimeout)
        } catch let error as MCPSessionError where error.rpcCode == -32602 {
            throw MCPSessionError(
                .remoteError,
                "server '\(connection.serverName)' no longer knows task \(id) (it expired or the server lost it); what the tool did is unknown")
        }
    }

    /// Stores the task's id and status. The first time it matters: until it is stored, a
    /// daemon that dies leaves an execution that looks like any lost call. So it is tried a few
    /// times; a status change is tried once.
    @discardableResult
    private func record(_ task: MCPTask, durably: Bool) async -> Bool {
        for attempt in 1...(durably ? 4 : 1) {
            do {
                try await store.recordTask(execution: execution.id, leaseToken: execution.leaseToken, taskID: task.id, status: task.status.text)
                return true
            } catch {
                logger.warning("could not store the task's state", metadata: execution.logMetadata.merging([
                    "task": "\(task.id)", "error": "\(String(reflecting: error))",
                ]) { $1 })
                if attempt < 4 && durably { try? await Task.sleep(for: Backoff.delay(failedAttempt: attempt)) }
            }
        }
        return false
    }

    static func declinedInput(_ task: MCPTask, then text: String?) -> String {
        let asked = task.statusMessage.map { " (\($0))" } ?? ""
        return "the task needed input\(asked), which astra-mcpd declined: it has no user at hand" + (text.map { "; then: \($0)" } ?? "")
    }
}
