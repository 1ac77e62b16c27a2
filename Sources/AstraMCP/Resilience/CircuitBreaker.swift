/// A per-server circuit breaker, as a pure state machine: no clock reads, no I/O. The caller
/// passes `now` in and acts on the returned decisions.
///
/// - `closed`: calls flow. It opens after `failureThreshold` consecutive failures, or when at
///   least `minimumCalls` calls in the last `window` failed at `failureRate` or more.
///   Can transition to: `open`.
/// - `open(until:)`: no calls are sent until the cool-down ends.
///   Can transition to: `halfOpen` (when the cool-down is over and a call asks).
/// - `halfOpen`: up to `halfOpenTrialCalls` trial calls at once; one success closes the
///   circuit, one failure opens it again. Can transition to: `closed`, `open`.
struct CircuitBreaker<Instant: InstantProtocol>: Sendable where Instant.Duration == Swift.Duration {
    struct Configuration: Sendable, Equatable {
        var failureThreshold = 5
        var failureRate = 0.5
        var minimumCalls = 20
        var window: Duration = .seconds(60)
        var coolDown: Duration = .seconds(30)
        var halfOpenTrialCalls = 1
    }

    enum State: Sendable, Equatable {
        case closed
        case open(until: Instant)
        case halfOpen(trialsInFlight: Int)

        /// The name stored in `mcp_servers.circuit_state`.
        var name: String {
            switch self {
            case .closed: return "closed"
            case .open: return "open"
            case .halfOpen: return "half_open"
            }
        }
    }

    /// What a caller may do now.
    enum Permission: Sendable, Equatable {
        /// Send the call.
        case allowed
        /// Do not send it before `until`.
        case rejected(until: Instant)
    }

    /// A state change the caller should record and log.
    enum Transition: Sendable, Equatable {
        case opened(until: Instant, reason: String)
        case halfOpened
        case closed
    }

    let configuration: Configuration
    private(set) var state: State = .closed
    /// Why the circuit last opened.
    private(set) var openReason: String?
    private var consecutiveFailures = 0
    /// Outcomes in the current window, in ten buckets so memory stays small at any call rate.
    private var buckets: [(start: Instant, calls: Int, failures: Int)] = []

    init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// Asks to send a call at `now`.
    mutating func permit(now: Instant) -> (Permission, Transition?) {
        switch state {
        case .closed:
            return (.allowed, nil)
        case .open(let until):
            guard now >= until else { return (.rejected(until: until), nil) }
            state = .halfOpen(trialsInFlight: 1)
            return (.allowed, .halfOpened)
        case .halfOpen(let trials):
            guard trials < configuration.halfOpenTrialCalls else {
                return (.rejected(until: now.advanced(by: .seconds(1))), nil)
            }
            state = .halfOpen(trialsInFlight: trials + 1)
            return (.allowed, nil)
        }
    }

    /// Records a call that succeeded.
    mutating func recordSuccess(now: Instant) -> Transition? {
        record(now: now, failed: false)
        consecutiveFailures = 0
        switch state {
        case .halfOpen:
            state = .closed
            buckets.removeAll()
            return .closed
        case .closed, .open:
            return nil
        }
    }

    /// Records a permitted call that ended without saying anything about the server (handed
    /// back, cancelled, a misconfiguration, an answer that is neither a success nor a failure):
    /// a half-open trial slot is given back, so the next call can be the trial.
    mutating func recordAbandoned() {
        if case .halfOpen(let trials) = state { state = .halfOpen(trialsInFlight: max(trials - 1, 0)) }
    }

    /// Takes on the state another daemon recorded for the same server: `open` until `until`
    /// (unless this breaker is already open longer), or `closed`. Returns no transition: the
    /// state came from the database and is not recorded again.
    mutating func adopt(openUntil until: Instant?, reason: String?) {
        if let until {
            if case .open(let mine) = state, mine >= until { return }
            state = .open(until: until)
            openReason = reason ?? openReason
        } else {
            guard state != .closed else { return }
            state = .closed
        }
        consecutiveFailures = 0
        buckets.removeAll()
    }

    /// Records a call that failed for a reason that counts against the server.
    mutating func recordFailure(now: Instant, reason: String) -> Transition? {
        record(now: now, failed: true)
        consecutiveFailures += 1
        switch state {
        case .halfOpen:
            return open(now: now, reason: "trial call failed: \(reason)")
        case .open:
            return nil
        case .closed:
            if consecutiveFailures >= configuration.failureThreshold {
                return open(now: now, reason: "\(consecutiveFailures) consecutive failures; last: \(reason)")
            }
            let calls = buckets.reduce(0) { $0 + $1.calls }
            let failures = buckets.reduce(0) { $0 + $1.failures }
            if calls >= configuration.minimumCalls, Double(failures) / Double(calls) >= configuration.failureRate {
                return open(now: now, reason: "\(failures) of the last \(calls) calls failed; last: \(reason)")
            }
            return nil
        }
    }

    private mutating func open(now: Instant, reason: String) -> Transition {
        let until = now.advanced(by: configuration.coolDown)
        state = .open(until: until)
        openReason = reason
        consecutiveFailures = 0
        buckets.removeAll()
        return .opened(until: until, reason: reason)
    }

    private mutating func record(now: Instant, failed: Bool) {
        let horizon = now.advanced(by: .zero - configuration.window)
        buckets.removeAll { $0.start < horizon }
        if let last = buckets.indices.last, now < buckets[last].start.advanced(by: configuration.window / 10) {
            buckets[last].calls += 1
            buckets[last].failures += failed ? 1 : 0
        } else {
            buckets.append((now, 1, failed ? 1 : 0))
        }
    }
}
