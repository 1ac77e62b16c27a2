import Foundation
import Logging

/// Makes each server's circuit the fleet's: this daemon's transitions are logged and recorded
/// on the server rows, in order, and the transitions other daemons record are adopted when a
/// notification names the server (or, after the LISTEN connection reconnects, all of them).
final class FleetCircuits: Sendable {
    let breakers: CircuitBreakers
    let servers: ServerStore
    let logger: Logger
    /// Whether the daemon is stopping: a record that keeps failing is then given up sooner.
    let isStopping: @Sendable () -> Bool
    /// Where each server's circuit state is shown.
    let metrics: EngineMetrics
    private let transitions: AsyncStream<(ServerDescriptor, CircuitBreakers.Breaker.Transition)>
    private let transitionsContinuation: AsyncStream<(ServerDescriptor, CircuitBreakers.Breaker.Transition)>.Continuation
    /// Servers whose recorded circuit to adopt (nil: every one not closed). Bounded: only the
    /// newest requests matter.
    private let adoptionRequests: AsyncStream<UUID?>
    private let adoptions: AsyncStream<UUID?>.Continuation

    /// Makes the breakers, whose transitions this records.
    init(
        configuration: CircuitBreakers.Breaker.Configuration, servers: ServerStore, logger: Logger, isStopping: @escaping @Sendable () -> Bool,
        metrics: EngineMetrics = .disabled
    ) {
        self.metrics = metrics
        let (transitions, continuation) = AsyncStream<(ServerDescriptor, CircuitBreakers.Breaker.Transition)>.makeStream()
        self.transitions = transitions
        self.transitionsContinuation = continuation
        (adoptionRequests, adoptions) = AsyncStream<UUID?>.makeStream(bufferingPolicy: .bufferingNewest(256))
        breakers = CircuitBreakers(configuration: configuration) { server, transition in
            continuation.yield((server, transition))
        }
        self.servers = servers
        self.logger = logger
        self.isStopping = isStopping
    }

    /// Another daemon recorded a circuit change (the payload is the server's id; nil after the
    /// LISTEN connection (re)connects: every recorded circuit is read again).
    func circuitChanged(_ payload: String?) {
        adoptions.yield(payload.flatMap(UUID.init(uuidString:)))
    }

    /// Records and adopts until ``finish()``.
    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.recordTransitions() }
            group.addTask { await self.adoptRecordedCircuits() }
        }
    }

    /// Ends ``run()`` once the transitions so far are recorded.
    func finish() {
        transitionsContinuation.finish()
        adoptions.finish()
    }

    private func recordTransitions() async {
        for await (server, transition) in transitions {
            let state: String
            var reason: String?
            var openFor: Duration?
            switch transition {
            case .opened(let until, let why):
                state = "open"
                reason = why
                openFor = until - breakers.now()
                logger.warning("circuit opened", metadata: server.logMetadata.merging(["reason": "\(why)", "retry_after": "\(until - .now)"]) { $1 })
            case .halfOpened:
                state = "half_open"
                logger.info("circuit half-open: sending a trial call", metadata: server.logMetadata)
            case .closed:
                state = "closed"
                logger.info("circuit closed", metadata: server.logMetadata)
            }
            metrics.circuitChanged(serverID: server.id, name: server.name, to: CircuitState(recorded: state) ?? .closed)
            await persist("record the circuit state", attempts: 3, logger: logger, isStopping: isStopping) {
                try await self.servers.recordCircuit(serverID: server.id, state: state, reason: reason, openFor: openFor)
            }
        }
    }

    private func adoptRecordedCircuits() async {
        for await serverID in adoptionRequests {
            do {
                let asked = breakers.now()
                for circuit in try await servers.circuitStates(serverID: serverID) {
                    switch circuit.state {
                    case "open" where (circuit.openFor ?? .zero) > .zero:
                        if case .closed = breakers.state(of: circuit.serverID) {
                            logger.info("circuit opened by another daemon", metadata: ["server_id": "\(circuit.serverID)", "reason": "\(circuit.reason ?? "")"])
                        }
                        breakers.adopt(serverID: circuit.serverID, openFor: circuit.openFor, asOf: asked, reason: circuit.reason)
                        metrics.circuitChanged(serverID: circuit.serverID, name: nil, to: .open)
                    case "closed":
                        breakers.adopt(serverID: circuit.serverID, openFor: nil, asOf: asked, reason: nil)
                        metrics.circuitChanged(serverID: circuit.serverID, name: nil, to: .closed)
                    default:
                        break
                    }
                }
            } catch {
                logger.error("could not read a recorded circuit", metadata: ["error": "\(String(reflecting: error))"])
            }
        }
    }
}
