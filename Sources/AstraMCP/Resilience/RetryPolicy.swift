/// Decides whether a failed attempt is tried again, and after how long.
///
/// A retry is made only when it is safe and may help:
/// - the failure is transient (the server could not be reached, exited, or did not answer in
///   time) — never a tool error (`isError`), a JSON-RPC error or a misconfiguration;
/// - the request was never sent, or the tool is idempotent (a request that reached the server
///   may have had its effect);
/// - attempts remain.
///
/// Delays grow exponentially from `baseDelay` with full jitter, capped at `maxDelay`.
struct RetryPolicy: Sendable, Equatable {
    var defaultMaxAttempts = 3
    var baseDelay: Duration = .seconds(1)
    var maxDelay: Duration = .seconds(60)

    enum Decision: Sendable, Equatable {
        case retry(after: Duration)
        case giveUp
    }

    /// - Parameters:
    ///   - attempt: The attempt that failed (1 for the first).
    ///   - maxAttempts: The tool's own limit, if it has one.
    ///   - requestSent: Whether the request may have reached the server.
    func decide(after error: MCPSessionError, attempt: Int, maxAttempts: Int?, idempotent: Bool, requestSent: Bool) -> Decision {
        guard Self.isTransient(error) else { return .giveUp }
        guard !requestSent || idempotent else { return .giveUp }
        guard attempt < (maxAttempts ?? defaultMaxAttempts) else { return .giveUp }
        return .retry(after: delay(afterFailedAttempt: attempt))
    }

    /// The wait before the attempt after `attempt`: uniform in [0, min(maxDelay, base·2^(attempt−1))].
    func delay(afterFailedAttempt attempt: Int) -> Duration {
        let bound = min(maxDelay, baseDelay * (1 << min(max(attempt - 1, 0), 30)))
        let milliseconds = Backoff.milliseconds(bound)
        return .milliseconds(Int64(Double.random(in: 0...milliseconds)))
    }

    /// Failures that another attempt may not meet.
    static func isTransient(_ error: MCPSessionError) -> Bool {
        switch error.code {
        case .startFailed, .disconnected, .timeout: return true
        default: return false
        }
    }

    /// Failures that count against the server's circuit breaker: the server is down, dying or
    /// not answering. A tool error, a JSON-RPC error or a bad configuration does not.
    static func countsAgainstServer(_ error: MCPSessionError) -> Bool {
        isTransient(error)
    }
}
