import Synchronization
import Testing

@testable import AstraMCP

/// The breaker is a pure state machine: time is passed in, so these tests never sleep.
@Suite("Circuit breaker state machine")
struct CircuitBreakerTests {
    typealias Breaker = CircuitBreaker<ContinuousClock.Instant>
    let t0 = ContinuousClock.now

    func breaker(threshold: Int = 3, rate: Double = 0.5, minimumCalls: Int = 10) -> Breaker {
        Breaker(configuration: .init(
            failureThreshold: threshold, failureRate: rate, minimumCalls: minimumCalls,
            window: .seconds(60), coolDown: .seconds(30), halfOpenTrialCalls: 1))
    }

    @Test("closed: calls are allowed; consecutive failures below the threshold keep it closed")
    func staysClosed() {
        var breaker = breaker()
        #expect(breaker.permit(now: t0).0 == .allowed)
        #expect(breaker.recordFailure(now: t0, reason: "x") == nil)
        #expect(breaker.recordFailure(now: t0, reason: "x") == nil)
        #expect(breaker.recordSuccess(now: t0) == nil)
        #expect(breaker.recordFailure(now: t0, reason: "x") == nil)
        #expect(breaker.state == .closed)
    }

    @Test("consecutive failures open it until the cool-down ends, and say why")
    func opensOnConsecutiveFailures() {
        var breaker = breaker()
        _ = breaker.recordFailure(now: t0, reason: "refused")
        _ = breaker.recordFailure(now: t0, reason: "refused")
        let transition = breaker.recordFailure(now: t0, reason: "refused")
        guard case .opened(let until, let reason) = transition else {
            Issue.record("expected the circuit to open, got \(String(describing: transition))")
            return
        }
        #expect(until == t0.advanced(by: .seconds(30)))
        #expect(reason.contains("3 consecutive failures"))
        #expect(breaker.permit(now: t0.advanced(by: .seconds(10))).0 == .rejected(until: until))
    }

    @Test("a failure rate over the window opens it once enough calls were made")
    func opensOnFailureRate() {
        var breaker = breaker(threshold: 100, rate: 0.5, minimumCalls: 10)
        var opened = false
        for i in 0..<10 {
            let now = t0.advanced(by: .seconds(i))
            if i % 2 == 1 {
                if case .opened = breaker.recordFailure(now: now, reason: "reset") { opened = true }
            } else {
                _ = breaker.recordSuccess(now: now)
            }
        }
        #expect(opened)
    }

    @Test("failures older than the window do not count toward the rate")
    func windowForgets() {
        var breaker = breaker(threshold: 100, rate: 0.5, minimumCalls: 4)
        _ = breaker.recordFailure(now: t0, reason: "old")
        _ = breaker.recordFailure(now: t0, reason: "old")
        let later = t0.advanced(by: .seconds(120))
        _ = breaker.recordSuccess(now: later)
        _ = breaker.recordSuccess(now: later)
        _ = breaker.recordSuccess(now: later)
        #expect(breaker.recordFailure(now: later, reason: "new") == nil)
        #expect(breaker.state == .closed)
    }

    @Test("after the cool-down one trial call goes through; its success closes the circuit")
    func halfOpenThenClosed() {
        var breaker = breaker(threshold: 1)
        _ = breaker.recordFailure(now: t0, reason: "down")
        let afterCoolDown = t0.advanced(by: .seconds(31))
        let (permission, transition) = breaker.permit(now: afterCoolDown)
        #expect(permission == .allowed)
        #expect(transition == .halfOpened)
        if case .rejected = breaker.permit(now: afterCoolDown).0 {} else { Issue.record("a second trial call was allowed") }
        #expect(breaker.recordSuccess(now: afterCoolDown) == .closed)
        #expect(breaker.state == .closed)
    }

    @Test("a failed trial call opens the circuit again")
    func halfOpenThenOpen() {
        var breaker = breaker(threshold: 1)
        _ = breaker.recordFailure(now: t0, reason: "down")
        let afterCoolDown = t0.advanced(by: .seconds(31))
        _ = breaker.permit(now: afterCoolDown)
        guard case .opened(let until, let reason) = breaker.recordFailure(now: afterCoolDown, reason: "still down") else {
            Issue.record("expected the circuit to open again")
            return
        }
        #expect(until == afterCoolDown.advanced(by: .seconds(30)))
        #expect(reason.contains("trial call failed"))
    }

    @Test("a trial call that ends neither as success nor as failure gives its slot back, so the next call can be the trial")
    func abandonedTrialIsReleased() {
        var breaker = breaker()
        for _ in 0..<3 { _ = breaker.recordFailure(now: t0, reason: "down") }
        let later = t0.advanced(by: .seconds(31))
        #expect(breaker.permit(now: later) == (.allowed, .halfOpened))
        #expect(breaker.permit(now: later).0 != .allowed, "one trial at a time")
        breaker.recordAbandoned()
        #expect(breaker.permit(now: later).0 == .allowed, "the abandoned trial's slot was given back")
        #expect(breaker.recordSuccess(now: later) == .closed)
    }

    @Test("CircuitBreakers reads the injected clock, and an abandoned permit never leaves the circuit stuck half-open")
    func breakersUseInjectedClock() {
        let clock = ManualInstant(t0)
        let server = ServerDescriptor(id: .init(), name: "s", serverType: "stdio", isActive: true, configJSON: "{}")
        let breakers = CircuitBreakers(
            configuration: .init(failureThreshold: 1, coolDown: .seconds(30)), now: { clock.now }, onTransition: { _, _ in })
        #expect(breakers.permit(server) == .allowed)
        breakers.recordFailure(server, reason: "down")
        #expect(breakers.permit(server) == .rejected(until: t0.advanced(by: .seconds(30))))
        clock.advance(by: .seconds(30))
        #expect(breakers.permit(server) == .allowed)
        breakers.recordAbandoned(server)
        #expect(breakers.permit(server) == .allowed)
    }

    @Test("an adopted cool-down is counted from when it was asked for: a daemon's own transition coming back never holds its calls longer")
    func adoptionCountsFromTheQuery() {
        let clock = ManualInstant(t0)
        let server = ServerDescriptor(id: .init(), name: "s", serverType: "stdio", isActive: true, configJSON: "{}")
        let breakers = CircuitBreakers(
            configuration: .init(failureThreshold: 1, coolDown: .seconds(3)), now: { clock.now }, onTransition: { _, _ in })
        _ = breakers.permit(server)
        breakers.recordFailure(server, reason: "down")
        // Recorded open until t0 + 3 s; the notification comes back, the query leaves at
        // t0 + 0.1 s, the database (later still) says 2.8 s remain, the answer arrives at t0 + 0.5 s.
        clock.advance(by: .milliseconds(100))
        let asked = clock.now
        clock.advance(by: .milliseconds(400))
        breakers.adopt(serverID: server.id, openFor: .milliseconds(2800), asOf: asked, reason: "down")
        #expect(breakers.state(of: server.id) == .open(until: t0.advanced(by: .seconds(3))), "not extended to t0 + 3.3 s")
        clock.advance(by: .milliseconds(2500))
        #expect(breakers.permit(server) == .allowed, "the trial goes at the recorded end of the cool-down")

        // Another daemon's longer cool-down is adopted, counted from the query.
        let other = ServerDescriptor(id: .init(), name: "o", serverType: "stdio", isActive: true, configJSON: "{}")
        breakers.adopt(serverID: other.id, openFor: .seconds(10), asOf: clock.now.advanced(by: .milliseconds(-200)), reason: "elsewhere")
        #expect(breakers.state(of: other.id) == .open(until: clock.now.advanced(by: .milliseconds(9800))))
    }
}

/// A hand-driven clock reading.
final class ManualInstant: Sendable {
    private let value: Mutex<ContinuousClock.Instant>
    init(_ start: ContinuousClock.Instant) { value = Mutex(start) }
    var now: ContinuousClock.Instant { value.withLock { $0 } }
    func advance(by duration: Duration) { value.withLock { $0 = $0.advanced(by: duration) } }
}
