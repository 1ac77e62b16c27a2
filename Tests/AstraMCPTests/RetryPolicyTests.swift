import Testing

@testable import AstraMCP

@Suite("Retry policy")
struct RetryPolicyTests {
    let policy = RetryPolicy(defaultMaxAttempts: 3, baseDelay: .seconds(1), maxDelay: .seconds(60))

    func decide(_ code: MCPSessionError.Code, attempt: Int = 1, max: Int? = nil, idempotent: Bool = false, sent: Bool = false)
        -> RetryPolicy.Decision
    {
        policy.decide(after: MCPSessionError(code, "boom"), attempt: attempt, maxAttempts: max, idempotent: idempotent, requestSent: sent)
    }

    @Test("a transient failure of a request never sent is retried")
    func notSentIsRetried() {
        guard case .retry = decide(.startFailed) else { Issue.record("not retried"); return }
    }

    @Test("a request that reached the server is retried only for an idempotent tool")
    func sentNeedsIdempotence() {
        #expect(decide(.disconnected, sent: true) == .giveUp)
        #expect(decide(.timeout, sent: true) == .giveUp)
        guard case .retry = decide(.disconnected, idempotent: true, sent: true) else { Issue.record("not retried"); return }
    }

    @Test("tool-level and permanent failures are never retried")
    func permanentFailures() {
        for code in [MCPSessionError.Code.remoteError, .misconfigured, .protocolError, .unsupportedProtocolVersion, .messageTooLarge] {
            #expect(decide(code, idempotent: true) == .giveUp)
        }
    }

    @Test("attempts run out: the default, or the tool's own max_attempts")
    func attemptsRunOut() {
        #expect(decide(.startFailed, attempt: 3) == .giveUp)
        #expect(decide(.startFailed, attempt: 1, max: 1) == .giveUp)
        guard case .retry = decide(.startFailed, attempt: 4, max: 5) else { Issue.record("not retried"); return }
    }

    @Test("delays are full-jitter exponential, capped")
    func delays() {
        for attempt in 1...12 {
            let bound = min(Duration.seconds(60), Duration.seconds(1) * (1 << (attempt - 1)))
            for _ in 0..<50 {
                let delay = policy.delay(afterFailedAttempt: attempt)
                #expect(delay >= .zero && delay <= bound)
            }
        }
    }
}
