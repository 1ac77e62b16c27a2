import Foundation
import Logging

/// Runs one claimed execution: checks the row, respects the server's circuit breaker, calls
/// the tool, and says how it ended — finished, to be retried later, or handed back. What the
/// call's end means is ``CallVerdict``'s to decide.
struct ExecutionRunner: Sendable {
    let pool: SessionPool
    let breakers: CircuitBreakers
    /// The limits a reload may change, read where they decide.
    let limits: LiveValue<Limits>
    /// Where the backend's cancel requests reach the calls.
    let cancellations: CallCancellations
    /// Where a task's id is stored the moment the server creates it.
    let store: QueueStore
    /// The tools' compiled schemas: arguments are checked before a call, results after it.
    let schemas: ToolSchemaCache
    let logger: Logger
    /// Called just before `tools/call` is handed to the server's session (benchmark hook).
    let onCallStarted: (@Sendable (UUID) -> Void)?
    /// Where pickup latency is recorded.
    var metrics = EngineMetrics.disabled

    /// The settings of a call a reload may change.
    struct Limits: Sendable {
        var retryPolicy: RetryPolicy
        /// How long an execution may wait for an open circuit before it fails.
        var maxCircuitWait: Duration
        /// The cap on a call whose tool sets no `max_duration_seconds`.
        var defaultMaxDuration: Duration

        init(_ configuration: QueueWorker.Configuration) {
            retryPolicy = RetryPolicy(
                defaultMaxAttempts: configuration.retry.maxAttempts, baseDelay: configuration.retry.baseDelay,
                maxDelay: configuration.retry.maxDelay)
            maxCircuitWait = configuration.circuitBreaker.maxWait
            defaultMaxDuration = configuration.defaultMaxDuration
        }
    }

    var retryPolicy: RetryPolicy { limits.value.retryPolicy }
    var maxCircuitWait: Duration { limits.value.maxCircuitWait }
    var defaultMaxDuration: Duration { limits.value.defaultMaxDuration }

    /// - Parameter stopping: Whether the daemon is stopping and closing its sessions: a call
    ///   lost that way is handed back to the queue, unless it may have reached a tool that is
    ///   not idempotent (then it ends `error`, never to run twice).
    func run(_ execution: ClaimedExecution, stopping: @Sendable () -> Bool) async -> Completion {
        let started = ContinuousClock.now
        func finish(_ status: ExecutionStatus, output: String? = nil, error: String? = nil) -> Completion {
            let elapsed = ContinuousClock.now - started
            let milliseconds = Int(Backoff.milliseconds(elapsed))
            // Debug: one record per execution would flood the journal under load (the outcome is
            // in the row, and in the metrics).
            logger.debug("execution \(status.rawValue)", metadata: execution.logMetadata.merging(
                ["status": "\(status.rawValue)", "duration_ms": "\(milliseconds)"].merging(error.map { ["error": "\($0)"] } ?? [:]) { $1 }) { $1 })
            return .finished(ExecutionOutcome(
                id: execution.id, leaseToken: execution.leaseToken, status: status, outputJSON: output, errorMessage: error,
                completedAt: Date(), durationMilliseconds: milliseconds))
        }
        func retry(after delay: Duration, _ message: String, counts: Bool) -> Completion {
            .retry(RetryRequest(id: execution.id, leaseToken: execution.leaseToken, after: delay, error: message, countsAsAttempt: counts))
        }

        // A stored task was sent: its cancel is tasks/cancel, below.
        if execution.cancelRequested && execution.taskID == nil { return finish(.cancelled, error: CancelUnclaimedStatement.message) }
        if let problem = Self.validate(execution) { return finish(.error, error: problem) }
        let toolSchemas: ToolSchemas
        do {
            toolSchemas = try await schemas.schemas(for: execution)
        } catch {
            return retry(after: .seconds(1), "could not read the schemas of tool '\(execution.toolName)': \(error)", counts: false)
        }
        // A stored task was sent already: its arguments were checked then.
        if execution.taskID == nil, let problem = toolSchemas.inputProblem(argumentsJSON: execution.argumentsJSON, toolName: execution.toolName) {
            return finish(.error, error: problem)
        }

        let server = execution.server
        if case .rejected(let until) = breakers.permit(server) {
            let reason = breakers.openReason(of: server.id) ?? "too many failures"
            let message = "the circuit of server '\(server.name)' is open (\(reason))"
            let wait = until - breakers.now()
            let waitedSoFar = Date().timeIntervalSince(execution.enqueuedAt)
            if waitedSoFar + Double(Backoff.milliseconds(wait)) / 1000 > Double(Backoff.milliseconds(maxCircuitWait)) / 1000 {
                return finish(.error, error: message + "; gave up waiting for it to close")
            }
            return retry(after: wait, message, counts: false)
        }

        let result: CallVerdict.CallResult
        var requestSent = execution.taskID != nil
        let task = TaskCall.Control()
        do {
            let session = try await pool.session(for: server)
            let asTask = execution.taskID != nil || (session.info.supportsToolTasks && execution.taskSupport != .forbidden)
            if execution.taskSupport == .required && !asTask {
                breakers.recordAbandoned(server)
                return finish(.error, error: """
                    tool '\(execution.toolName)' must be called as a task (execution.taskSupport: required), \
                    but server '\(server.name)' does not declare tasks.requests.tools.call
                    """)
            }
            let started = asTask
                ? cancellations.calling(execution.id, stop: task.cancel) : cancellations.calling(execution.id, on: session.connection)
            if !started || (execution.cancelRequested && asTask) {
                // A task already created is cancelled with tasks/cancel; anything else was never sent.
                guard execution.taskID != nil else {
                    breakers.recordAbandoned(server)
                    return finish(.cancelled, error: CancelUnclaimedStatement.message)
                }
                // Delivered as any cancel: the verdict then knows the backend asked.
                if started { cancellations.cancel(execution.id) } else { task.cancel() }
            }
            onCallStarted?(execution.id)
            metrics.callStarted(execution)
            requestSent = true
            if asTask {
                result = .answered(
                    try await TaskCall(
                        connection: session.connection, execution: execution, store: store, idleTimeout: .seconds(execution.timeoutSeconds),
                        maxDuration: maxDuration(of: execution), control: task, logger: logger
                    ).run())
            } else {
                result = .answered(
                    try await session.connection.callTool(
                        name: execution.toolName,
                        argumentsJSON: execution.argumentsJSON,
                        progressToken: execution.id.uuidString.lowercased(),
                        timeout: .seconds(execution.timeoutSeconds),
                        maxDuration: maxDuration(of: execution),
                        repeatable: execution.idempotent))
            }
        } catch let error as MCPSessionError {
            result = .failed(error, requestSent: requestSent)
        } catch {
            breakers.recordAbandoned(server)
            return finish(.error, error: "\(error)")
        }

        let verdict = CallVerdict.decide(
            result,
            CallVerdict.Facts(
                toolName: execution.toolName, timeoutSeconds: execution.timeoutSeconds,
                maxDurationSeconds: Int(Backoff.milliseconds(maxDuration(of: execution)) / 1000), idempotent: execution.idempotent,
                attempt: execution.attempt, maxAttempts: execution.maxAttempts,
                cancelled: cancellations.wasCancelled(execution.id), taskStored: task.isStored || execution.taskID != nil),
            stopping: stopping(), retryPolicy: retryPolicy)
        // The permit is settled exactly once: success, failure, or given back.
        switch verdict.breaker {
        case .success: breakers.recordSuccess(server)
        case .failure(let reason): breakers.recordFailure(server, reason: reason)
        case .abandoned: breakers.recordAbandoned(server)
        }
        switch verdict.disposition {
        case .finished(.success, let output?, _):
            // The server answered; whether the answer keeps the tool's promise is its outputSchema's.
            if let problem = toolSchemas.outputProblem(resultJSON: output, toolName: execution.toolName) {
                return finish(.error, output: output, error: problem)
            }
            return finish(.success, output: output)
        case .finished(let status, let output, let error):
            return finish(status, output: output, error: error)
        case .retry(let delay, let message, let counts):
            if counts {
                // Debug, as every per-execution record; the circuit and health records say when a
                // server is in trouble.
                logger.debug("retrying", metadata: execution.logMetadata.merging(["retry_in": "\(delay)", "error": "\(message)"]) { $1 })
            }
            return retry(after: delay, message, counts: counts)
        case .release(let counts):
            return .release(ReleaseRequest(id: execution.id, leaseToken: execution.leaseToken, countsAsAttempt: counts))
        }
    }

    /// The call's hard cap: the tool's `max_duration_seconds`, which always wins; else the
    /// daemon's default, which never cuts a call short of the tool's own `timeout_seconds`.
    func maxDuration(of execution: ClaimedExecution) -> Duration {
        if let seconds = execution.maxDurationSeconds { return .seconds(seconds) }
        return max(defaultMaxDuration, .seconds(execution.timeoutSeconds))
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
