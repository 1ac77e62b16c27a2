/// What the end of one tool call means, decided as a pure function: how the execution ends
/// (finished, retried later, handed back) and what the server's circuit breaker learns.
/// ``ExecutionRunner`` makes the call and applies the verdict.
struct CallVerdict: Equatable {
    /// How a call ended.
    enum CallResult {
        /// The server answered `tools/call` (the tool may still report an error).
        case answered(ToolCallResult)
        /// The session failed the call; `requestSent` when the request may have reached the server.
        case failed(MCPSessionError, requestSent: Bool)
    }

    /// What the breaker records for the call's permit (each permit is settled exactly once).
    enum BreakerEvent: Equatable {
        /// The server answered, even with an error.
        case success
        /// The server is down, dying or not answering.
        case failure(reason: String)
        /// The call says nothing about the server (never sent, misconfigured, stopped).
        case abandoned
    }

    enum Disposition: Equatable {
        case finished(ExecutionStatus, output: String?, error: String?)
        /// Run again after `after`; `countsAsAttempt` unless nothing was attempted.
        case retry(after: Duration, message: String, countsAsAttempt: Bool)
        /// Back to the queue for another worker (the daemon is stopping).
        case release(countsAsAttempt: Bool)
    }

    var disposition: Disposition
    var breaker: BreakerEvent

    /// What is known of the execution when its call ends.
    struct Facts {
        var toolName: String
        var timeoutSeconds: Int
        var maxDurationSeconds: Int
        var idempotent: Bool
        var attempt: Int
        var maxAttempts: Int?
        /// The backend asked to cancel the call while it ran (it was cancelled at its server).
        var cancelled = false
        /// The call is a task whose id is stored: another attempt resumes it (polls the same
        /// task) and never runs the tool again, so it may be retried whatever the tool.
        var taskStored = false
    }

    /// - Parameter stopping: The daemon is closing its sessions under the calls in flight.
    static func decide(_ result: CallResult, _ facts: Facts, stopping: Bool, retryPolicy: RetryPolicy) -> CallVerdict {
        let error: MCPSessionError
        var requestSent: Bool
        switch result {
        case .answered(let answer):
            if answer.isError { return CallVerdict(disposition: .finished(.error, output: answer.resultJSON, error: answer.errorText), breaker: .success) }
            return CallVerdict(disposition: .finished(.success, output: answer.resultJSON, error: nil), breaker: .success)
        case .failed(let failure, let sent):
            error = failure
            requestSent = sent && !failure.requestNeverSent
        }
        if facts.cancelled {
            // Whatever else failed, the call was stopped because the backend asked.
            return CallVerdict(disposition: .finished(.cancelled, output: nil, error: CallCancellations.reason), breaker: .abandoned)
        }

        // Resuming a stored task never runs the tool again.
        let repeatable = facts.idempotent || facts.taskStored
        if stopping && error.code != .timeout && error.code != .remoteError {
            if requestSent && !repeatable {
                let message = "astra-mcpd stopped during the call (\(error.message)); not retried because the tool is not idempotent"
                return CallVerdict(disposition: .finished(.error, output: nil, error: message), breaker: .abandoned)
            }
            return CallVerdict(disposition: .release(countsAsAttempt: requestSent), breaker: .abandoned)
        }
        if let wait = error.retryAfter, !requestSent {
            // The pool holds the server back (it is restarting): nothing was attempted.
            return CallVerdict(disposition: .retry(after: max(wait, .milliseconds(20)), message: error.message, countsAsAttempt: false), breaker: .abandoned)
        }
        let breaker: BreakerEvent =
            RetryPolicy.countsAgainstServer(error) ? .failure(reason: error.message) : error.code == .remoteError ? .success : .abandoned
        let message = error.code == .timeout ? Self.timeoutMessage(error.timeoutLimit, facts) : error.message
        if error.timeoutLimit == .maxDuration {
            // The cap is the whole call's: another attempt would only meet it again.
            return CallVerdict(disposition: .finished(.timeout, output: nil, error: message), breaker: breaker)
        }
        switch retryPolicy.decide(
            after: error, attempt: facts.attempt, maxAttempts: facts.maxAttempts, idempotent: repeatable, requestSent: requestSent)
        {
        case .retry(let delay):
            return CallVerdict(disposition: .retry(after: delay, message: message, countsAsAttempt: true), breaker: breaker)
        case .giveUp:
            return CallVerdict(disposition: .finished(error.code == .timeout ? .timeout : .error, output: nil, error: message), breaker: breaker)
        }
    }

    /// Which limit ended the call, in the words of the tool's columns.
    static func timeoutMessage(_ limit: MCPSessionError.TimeoutLimit?, _ facts: Facts) -> String {
        switch limit {
        case .maxDuration:
            "tool '\(facts.toolName)' ran longer than its limit of \(facts.maxDurationSeconds) s (max_duration_seconds)"
        case .idle, nil:
            "tool '\(facts.toolName)' gave no sign of life for \(facts.timeoutSeconds) s (timeout_seconds: no reply or progress)"
        }
    }
}
