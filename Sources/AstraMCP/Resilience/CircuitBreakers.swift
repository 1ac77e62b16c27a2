import Foundation
import Synchronization

/// The circuit breaker of every server this daemon calls, with a callback for each state
/// change (to log it and record it on the server's row).
final class CircuitBreakers: Sendable {
    typealias Breaker = CircuitBreaker<ContinuousClock.Instant>

    private let breakers = Mutex<[UUID: Breaker]>([:])
    let configuration: Breaker.Configuration
    let onTransition: @Sendable (ServerDescriptor, Breaker.Transition) -> Void
    /// The clock the breakers read (injected, so tests drive time by hand).
    let now: @Sendable () -> ContinuousClock.Instant

    init(
        configuration: Breaker.Configuration,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now },
        onTransition: @escaping @Sendable (ServerDescriptor, Breaker.Transition) -> Void
    ) {
        self.configuration = configuration
        self.now = now
        self.onTransition = onTransition
    }

    /// Asks to send a call to `server`. An `.allowed` answer must be followed by exactly one of
    /// ``recordSuccess(_:)``, ``recordFailure(_:reason:)`` or ``recordAbandoned(_:)``.
    func permit(_ server: ServerDescriptor) -> Breaker.Permission {
        let (permission, transition) = breakers.withLock { breakers in
            var breaker = breakers[server.id] ?? Breaker(configuration: configuration)
            defer { breakers[server.id] = breaker }
            return breaker.permit(now: now())
        }
        if let transition { onTransition(server, transition) }
        return permission
    }

    func recordSuccess(_ server: ServerDescriptor) {
        let transition = breakers.withLock { breakers -> Breaker.Transition? in
            guard var breaker = breakers[server.id] else { return nil }
            defer { breakers[server.id] = breaker }
            return breaker.recordSuccess(now: now())
        }
        if let transition { onTransition(server, transition) }
    }

    func recordFailure(_ server: ServerDescriptor, reason: String) {
        let transition = breakers.withLock { breakers in
            var breaker = breakers[server.id] ?? Breaker(configuration: configuration)
            defer { breakers[server.id] = breaker }
            return breaker.recordFailure(now: now(), reason: reason)
        }
        if let transition { onTransition(server, transition) }
    }

    /// Gives back a permitted call that said nothing about the server.
    func recordAbandoned(_ server: ServerDescriptor) {
        breakers.withLock { breakers in breakers[server.id]?.recordAbandoned() }
    }

    /// Takes on a circuit another daemon recorded: `open` for `openFor` more, counted from
    /// `asOf`, or closed. Half-open is each daemon's own business (its trial calls), so it is
    /// not adopted.
    ///
    /// - Parameter asOf: When the recorded circuit was asked for (before the query left):
    ///   `openFor` was measured by the database later than that, so the cool-down adopted
    ///   ends no later than the one recorded. Counted from when the answer arrived instead, a
    ///   daemon's own transition coming back to it would hold its calls past what it recorded,
    ///   by the round trip.
    func adopt(serverID: UUID, openFor: Duration?, asOf: ContinuousClock.Instant, reason: String?) {
        let until = openFor.map { asOf.advanced(by: $0) }
        breakers.withLock { breakers in
            var breaker = breakers[serverID] ?? Breaker(configuration: configuration)
            breaker.adopt(openUntil: until, reason: reason)
            breakers[serverID] = breaker
        }
    }

    /// The state of a server's breaker (closed if it has none).
    func state(of serverID: UUID) -> Breaker.State {
        breakers.withLock { $0[serverID]?.state ?? .closed }
    }

    /// Why a server's circuit last opened, for messages.
    func openReason(of serverID: UUID) -> String? {
        breakers.withLock { $0[serverID]?.openReason }
    }
}

extension CircuitBreaker.Configuration where Instant == ContinuousClock.Instant {
    init(_ options: DaemonConfiguration.CircuitBreakerOptions) {
        self.init(
            failureThreshold: options.failureThreshold, failureRate: options.failureRate, minimumCalls: options.minimumCalls,
            window: options.window, coolDown: options.coolDown, halfOpenTrialCalls: options.halfOpenCalls)
    }
}
