import Testing

@testable import AstraMCP

/// What the end of a call means for its execution and its server's breaker.
@Suite("Call verdicts")
struct CallVerdictTests {
    static let policy = RetryPolicy(defaultMaxAttempts: 3, baseDelay: .seconds(1), maxDelay: .seconds(60))

    static func facts(idempotent: Bool, attempt: Int = 1, maxAttempts: Int? = nil, cancelled: Bool = false) -> CallVerdict.Facts {
        .init(
            toolName: "charge", timeoutSeconds: 30, maxDurationSeconds: 600, idempotent: idempotent, attempt: attempt, maxAttempts: maxAttempts,
            cancelled: cancelled)
    }

    static func failed(
        _ code: MCPSessionError.Code, sent: Bool = true, neverSent: Bool = false, retryAfter: Duration? = nil,
        limit: MCPSessionError.TimeoutLimit? = nil
    ) -> CallVerdict.CallResult {
        var error = MCPSessionError(code, "boom")
        error.timeoutLimit = limit
        error.requestNeverSent = neverSent
        error.retryAfter = retryAfter
        return .failed(error, requestSent: sent)
    }

    func decide(
        _ result: CallVerdict.CallResult, idempotent: Bool = false, attempt: Int = 1, stopping: Bool = false, cancelled: Bool = false
    ) -> CallVerdict {
        CallVerdict.decide(
            result, Self.facts(idempotent: idempotent, attempt: attempt, cancelled: cancelled), stopping: stopping, retryPolicy: Self.policy)
    }

    func isCountedRetry(_ verdict: CallVerdict) -> Bool {
        if case .retry(_, _, true) = verdict.disposition { return true }
        return false
    }

    @Test("an answer is a success for the breaker, whether the tool succeeded or reported an error")
    func answered() {
        let ok = decide(.answered(ToolCallResult(resultJSON: "{}", isError: false, errorText: nil)))
        #expect(ok == CallVerdict(disposition: .finished(.success, output: "{}", error: nil), breaker: .success))
        let toolError = decide(.answered(ToolCallResult(resultJSON: #"{"isError":true}"#, isError: true, errorText: "declined")))
        #expect(toolError == CallVerdict(disposition: .finished(.error, output: #"{"isError":true}"#, error: "declined"), breaker: .success))
    }

    @Test("a sent call to a tool that is not idempotent is never retried; an idempotent one is, while attempts remain")
    func sentCalls() {
        let lost = decide(Self.failed(.disconnected))
        #expect(lost == CallVerdict(disposition: .finished(.error, output: nil, error: "boom"), breaker: .failure(reason: "boom")))
        #expect(isCountedRetry(decide(Self.failed(.disconnected), idempotent: true)))
        #expect(!isCountedRetry(decide(Self.failed(.disconnected), idempotent: true, attempt: 3)), "out of attempts")
    }

    @Test("a call that provably never left is retried even for a tool that is not idempotent")
    func neverSent() {
        #expect(isCountedRetry(decide(Self.failed(.disconnected, neverSent: true))))
        #expect(isCountedRetry(decide(Self.failed(.startFailed, sent: false))))
    }

    @Test("a timeout ends as timeout naming the limit it met, and counts against the server")
    func timeout() {
        let idle = decide(Self.failed(.timeout, limit: .idle))
        #expect(idle.disposition == .finished(
            .timeout, output: nil, error: "tool 'charge' gave no sign of life for 30 s (timeout_seconds: no reply or progress)"))
        #expect(idle.breaker == .failure(reason: "boom"))
        let capped = decide(Self.failed(.timeout, limit: .maxDuration))
        #expect(capped.disposition == .finished(
            .timeout, output: nil, error: "tool 'charge' ran longer than its limit of 600 s (max_duration_seconds)"))
    }

    @Test("a call the backend cancelled ends cancelled whatever failed, and tells the breaker nothing")
    func cancelled() {
        for result in [Self.failed(.cancelled), Self.failed(.disconnected), Self.failed(.timeout, limit: .idle)] {
            let verdict = decide(result, idempotent: true, cancelled: true)
            #expect(verdict == CallVerdict(disposition: .finished(.cancelled, output: nil, error: "cancelled at the backend's request"), breaker: .abandoned))
        }
        // An answer that won the race is kept.
        let answered = decide(.answered(ToolCallResult(resultJSON: "{}", isError: false, errorText: nil)), cancelled: true)
        #expect(answered.disposition == .finished(.success, output: "{}", error: nil))
    }

    @Test("a JSON-RPC error is the server answering; a misconfiguration says nothing about the server")
    func notTransient() {
        #expect(decide(Self.failed(.remoteError), idempotent: true) == CallVerdict(disposition: .finished(.error, output: nil, error: "boom"), breaker: .success))
        #expect(decide(Self.failed(.misconfigured, sent: false), idempotent: true).breaker == .abandoned)
    }

    @Test("a server held back by the pool is waited for, without using up an attempt")
    func heldBack() {
        let verdict = decide(Self.failed(.startFailed, sent: false, retryAfter: .seconds(2)))
        #expect(verdict == CallVerdict(disposition: .retry(after: .seconds(2), message: "boom", countsAsAttempt: false), breaker: .abandoned))
    }

    @Test("stopping: a call that may have reached a tool that is not idempotent ends error; the rest are handed back")
    func stopping() {
        let sent = decide(Self.failed(.disconnected), stopping: true)
        guard case .finished(.error, _, let message?) = sent.disposition else {
            Issue.record("expected an error, got \(sent)")
            return
        }
        #expect(message.hasSuffix("not retried because the tool is not idempotent"))
        #expect(decide(Self.failed(.disconnected), idempotent: true, stopping: true).disposition == .release(countsAsAttempt: true))
        #expect(decide(Self.failed(.disconnected, neverSent: true), stopping: true).disposition == .release(countsAsAttempt: false))
        #expect(decide(Self.failed(.disconnected), stopping: true).breaker == .abandoned, "stopping says nothing about the server")
    }

    @Test("a call whose task is stored may be resumed whatever the tool: handed back at shutdown, retried after a lost connection")
    func storedTask() {
        var facts = Self.facts(idempotent: false)
        facts.taskStored = true
        let stopping = CallVerdict.decide(Self.failed(.disconnected), facts, stopping: true, retryPolicy: Self.policy)
        #expect(stopping.disposition == .release(countsAsAttempt: true))
        let lost = CallVerdict.decide(Self.failed(.disconnected), facts, stopping: false, retryPolicy: Self.policy)
        #expect(isCountedRetry(lost))
        // Without the task the same failure is final for a tool that is not idempotent.
        #expect(!isCountedRetry(decide(Self.failed(.disconnected))))
    }

    @Test("meeting max_duration_seconds is final, even for an idempotent tool")
    func capIsFinal() {
        let verdict = decide(Self.failed(.timeout, limit: .maxDuration), idempotent: true)
        #expect(verdict.disposition == .finished(
            .timeout, output: nil, error: "tool 'charge' ran longer than its limit of 600 s (max_duration_seconds)"))
    }
}
