import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Claims pending executions and runs them, at most `maxConcurrency` at a time.
///
/// The loop sleeps until a notification (see ``QueueListener``), the backstop timer or a
/// backlog gives a reason to look and a slot is free; then one statement claims as many rows
/// as there are free slots. Each execution runs in its own child task; its outcome goes to a
/// single writer that stores outcomes in batches, and a slot is returned only once its outcome
/// is stored, so memory stays bounded whatever the queue holds.
///
/// Graceful shutdown: claiming stops, in-flight calls get `shutdownGrace` to finish, then the
/// sessions are closed. What had not reached its server, or is idempotent, is handed back to
/// the queue for another worker; a call that may have reached a tool that is not idempotent
/// ends `error` instead (it is never run twice). The lease heartbeat runs until the last
/// outcome is written.
///
/// Leases are held by ``instanceID``, new for every process, and every write is fenced by the
/// attempt it belongs to: a worker whose lease was taken over cannot overwrite the newer
/// attempt.
public final class QueueWorker: Service, Sendable {
    /// The worker's settings.
    public struct Configuration: Sendable {
        public var workerID: String
        public var maxConcurrency: Int = 64
        public var claimBatchSize: Int = 64
        public var completionBatchSize: Int = 200
        public var pollInterval: Duration = .seconds(5)
        public var leaseDuration: Duration = .seconds(30)
        public var shutdownGrace: Duration = .seconds(30)
        /// PostgreSQL's `statement_timeout` for the daemon: an answer that takes much longer is
        /// given up on (the statement is repeated).
        public var statementTimeout: Duration = .seconds(30)
        public var maxInFlightPerServer: Int = 32
        public var circuitBreaker = DaemonConfiguration.CircuitBreakerOptions()
        public var retry = DaemonConfiguration.RetryOptions()

        public init(workerID: String) {
            self.workerID = workerID
        }

        public init(_ daemon: DaemonConfiguration) {
            workerID = daemon.workerID
            maxConcurrency = daemon.maxConcurrency
            claimBatchSize = daemon.claimBatchSize
            completionBatchSize = daemon.completionBatchSize
            pollInterval = daemon.pollInterval
            leaseDuration = daemon.leaseDuration
            shutdownGrace = daemon.shutdownGrace
            statementTimeout = daemon.statementTimeout
            maxInFlightPerServer = daemon.maxInFlightPerServer
            circuitBreaker = daemon.circuitBreaker
            retry = daemon.retry
        }
    }

    let configuration: Configuration
    /// The lease owner this process writes: `<worker_id>/<random>`, so a restarted daemon with
    /// the same configured id neither renews nor writes its predecessor's leases (it recovers
    /// them once they expire).
    public let instanceID: String
    let store: QueueStore
    /// Where circuits are recorded for, and read from, the other daemons.
    let servers: ServerStore
    let pool: SessionPool
    let runner: ExecutionRunner
    let logger: Logger
    let gate: DispatchGate
    let breakers: CircuitBreakers
    /// Wakes the claim loop when a retry becomes due.
    private let retryAlarm = Alarm()
    /// Circuit state changes to record on the server rows, in order.
    private let circuitChanges: AsyncStream<(ServerDescriptor, CircuitBreakers.Breaker.Transition)>
    private let circuitChangesContinuation: AsyncStream<(ServerDescriptor, CircuitBreakers.Breaker.Transition)>.Continuation
    /// Servers whose recorded circuit to adopt (nil: every one not closed). Bounded: only the
    /// newest requests matter.
    private let adoptionRequests: AsyncStream<UUID?>
    private let adoptions: AsyncStream<UUID?>.Continuation
    /// The executions this worker holds, from claim until their completion is written: the
    /// heartbeat renews exactly these leases.
    private let held = Mutex<Set<HeldLease>>([])
    /// Calls in flight per server, for `maxInFlightPerServer`.
    private let inFlightPerServer = Mutex<[UUID: Int]>([:])
    /// Set once the grace period is over and sessions are being closed under the calls.
    private let stopping = Atomic<Bool>(false)
    private let counters = Mutex(Statistics())

    /// Round trips and rows since start, to see how well claims and completions batch.
    public struct Statistics: Sendable {
        public var claims = 0
        public var claimedExecutions = 0
        public var completionBatches = 0
        public var completedExecutions = 0
        /// Heartbeat statements (each renews every lease the worker holds).
        public var leaseRenewals = 0
    }

    /// The worker's counters so far.
    public var statistics: Statistics { counters.withLock { $0 } }

    /// - Parameters:
    ///   - onCallStarted: Called with an execution's id just before its `tools/call` is sent
    ///     (used by the benchmark to measure pickup latency).
    public init(
        configuration: Configuration,
        database: PostgresClient,
        pool: SessionPool,
        logger: Logger,
        onCallStarted: (@Sendable (UUID) -> Void)? = nil
    ) {
        self.configuration = configuration
        let instanceID = "\(configuration.workerID)/\(UUID().uuidString.prefix(8).lowercased())"
        self.instanceID = instanceID
        self.store = QueueStore(
            database: database, workerID: instanceID, logger: logger, answerTimeout: configuration.statementTimeout + .seconds(15))
        self.servers = ServerStore(database: database, logger: logger, answerTimeout: configuration.statementTimeout + .seconds(15))
        self.pool = pool
        let (changes, changesContinuation) = AsyncStream<(ServerDescriptor, CircuitBreakers.Breaker.Transition)>.makeStream()
        self.circuitChanges = changes
        self.circuitChangesContinuation = changesContinuation
        (adoptionRequests, adoptions) = AsyncStream<UUID?>.makeStream(bufferingPolicy: .bufferingNewest(256))
        let breakers = CircuitBreakers(configuration: .init(configuration.circuitBreaker)) { server, transition in
            changesContinuation.yield((server, transition))
        }
        self.breakers = breakers
        self.runner = ExecutionRunner(
            pool: pool, breakers: breakers,
            retryPolicy: RetryPolicy(
                defaultMaxAttempts: configuration.retry.maxAttempts, baseDelay: configuration.retry.baseDelay,
                maxDelay: configuration.retry.maxDelay),
            maxCircuitWait: configuration.circuitBreaker.maxWait, logger: logger, onCallStarted: onCallStarted)
        self.logger = logger
        self.gate = DispatchGate(
            capacity: configuration.maxConcurrency,
            backlogClaimThreshold: min(configuration.claimBatchSize, configuration.maxConcurrency / 4))
    }

    /// Wakes the claim loop: something may have been enqueued.
    public func notifyWork() {
        gate.signalWork()
    }

    public func run() async throws {
        let completions = CompletionBuffer(maxBatch: configuration.completionBatchSize)
        logger.info("queue worker started", metadata: ["instance": "\(instanceID)"])
        let drained = AsyncEvent()
        let writerDone = AsyncEvent()
        await withDiscardingTaskGroup { group in
            group.addTask {
                await self.writeCompletions(completions, drained: drained)
                writerDone.signal()
            }
            group.addTask { await self.runMaintenance() }
            group.addTask { await self.runHeartbeat() }
            group.addTask { await self.retryAlarm.run { self.gate.signalWork() } }
            group.addTask { await self.recordCircuitChanges() }
            group.addTask { await self.adoptRecordedCircuits() }

            await withGracefulShutdownHandler {
                await self.claimLoop(group: &group, completions: completions)
            } onGracefulShutdown: {
                self.gate.close()
            }

            // Draining: in-flight calls get the grace period; then their sessions are closed,
            // which fails the calls: those that may have reached a tool that is not idempotent
            // end `error`, the others are handed back to the queue (see ExecutionRunner).
            logger.info("draining", metadata: ["in_flight": "\(gate.inFlight)"])
            if gate.inFlight == 0 { drained.signal() }
            if !(await drained.wait(timeout: configuration.shutdownGrace)) {
                logger.warning("grace period over; stopping the calls still in flight", metadata: ["in_flight": "\(gate.inFlight)"])
                stopping.store(true, ordering: .relaxed)
                pool.shutdown()
                // The children get their exit grace (twice: stdin EOF, then SIGTERM) before
                // SIGKILL closes every session for sure.
                await drained.wait()
            }
            completions.finish()
            await writerDone.wait()
            circuitChangesContinuation.finish()
            adoptions.finish()
            group.cancelAll()
        }
        logger.info("queue worker stopped")
    }

    private func claimLoop(group: inout DiscardingTaskGroup, completions: CompletionBuffer) async {
        var failures = 0
        while let free = await gate.waitForWork() {
            let limit = min(free, configuration.claimBatchSize)
            let claimed: [ClaimedExecution]
            do {
                claimed = try await store.claim(limit: limit, lease: configuration.leaseDuration, excludingServers: saturatedServers())
                if failures > 0 { logger.info("claiming works again") }
                failures = 0
            } catch {
                failures += 1
                let delay = Backoff.delay(failedAttempt: failures)
                logger.error("claim failed; retrying", metadata: ["error": "\(String(reflecting: error))", "retry_in": "\(delay)"])
                try? await Task.sleep(for: delay)
                // The claim may have committed with its answer lost: hand back what it leased,
                // which this worker never saw and so never started.
                if let released = try? await store.releaseUnheldLeases(holding: held.withLock { Array($0) }), released > 0 {
                    logger.warning("handed back executions of a claim whose answer was lost", metadata: ["count": "\(released)"])
                }
                gate.signalWork()
                continue
            }
            gate.claimed(claimed.count, full: claimed.count == limit)
            counters.withLock {
                $0.claims += 1
                $0.claimedExecutions += claimed.count
            }
            inFlightPerServer.withLock { counts in
                for execution in claimed { counts[execution.server.id, default: 0] += 1 }
            }
            held.withLock { held in
                for execution in claimed { held.insert(HeldLease(execution: execution.id, token: execution.leaseToken)) }
            }
            for execution in claimed {
                logger.debug("claimed", metadata: ["execution": "\(execution.id)", "tool": "\(execution.toolName)", "server": "\(execution.server.name)"])
                group.addTask {
                    let completion = await self.runner.run(execution) { self.stopping.load(ordering: .relaxed) }
                    let wasSaturated = self.inFlightPerServer.withLock { counts in
                        let before = counts[execution.server.id, default: 1]
                        counts[execution.server.id] = before > 1 ? before - 1 : nil
                        return before >= self.configuration.maxInFlightPerServer
                    }
                    completions.submit(completion)
                    // Claims skipped this server's executions while it was at its cap: look again.
                    if wasSaturated { self.gate.signalWork() }
                }
            }
        }
    }

    /// Writes completions in batches until the buffer is finished and empty. A completion the
    /// database cannot take just now (a lock a backend holds) is written again after a short
    /// backoff, together with whatever came meanwhile: the others are never held up for long.
    private func writeCompletions(_ completions: CompletionBuffer, drained: AsyncEvent) async {
        var later: [Completion] = []
        var laterRounds = 0
        while true {
            var batch: [Completion]
            if later.isEmpty {
                guard let next = await completions.nextBatch() else { break }
                batch = next
            } else {
                laterRounds += 1
                if gate.isClosed && laterRounds > 20 {
                    logger.critical("gave up writing completions; their leases will expire and recovery takes them over", metadata: ["count": "\(later.count)"])
                    held.withLock { held in for completion in later { held.remove(completion.lease) } }
                    gate.release(later.count)
                    later = []
                    if gate.isClosed && gate.inFlight == 0 { drained.signal() }
                    continue
                }
                try? await Task.sleep(for: min(.milliseconds(100) * laterRounds, .seconds(2)))
                let used = later.reduce(0) { $0 + $1.approximateBytes }
                batch = later + completions.takeAvailable(
                    max: max(configuration.completionBatchSize - later.count, 0), bytes: completions.maxBatchBytes - used)
                later = []
            }
            // Under load, linger a moment so one round trip carries many outcomes: the database's
            // cost is mostly per statement, not per row.
            let enough = min(configuration.completionBatchSize, max(configuration.maxConcurrency / 4, 1))
            if batch.count < enough, gate.inFlight - batch.count >= enough, !gate.isClosed {
                try? await Task.sleep(for: .milliseconds(2))
                let used = batch.reduce(0) { $0 + $1.approximateBytes }
                batch += completions.takeAvailable(
                    max: configuration.completionBatchSize - batch.count, bytes: completions.maxBatchBytes - used)
            }
            var outcomes: [ExecutionOutcome] = []
            var retries: [RetryRequest] = []
            var releases: [ReleaseRequest] = []
            for completion in batch {
                switch completion {
                case .finished(let outcome): outcomes.append(outcome)
                case .retry(let retry): retries.append(retry)
                case .release(let release): releases.append(release)
                }
            }
            await persist("write outcomes", attempts: 20) {
                let (written, again) = try await self.store.complete(outcomes)
                later += again.map(Completion.finished)
                if written + again.count < outcomes.count {
                    self.logger.warning(
                        "outcomes not written: their lease was taken over by another attempt",
                        metadata: ["count": "\(outcomes.count - written - again.count)"])
                }
            }
            await persist("schedule retries", attempts: 20) { later += try await self.store.retry(retries).map(Completion.retry) }
            await persist("hand back executions", attempts: 5) { later += try await self.store.release(releases).map(Completion.release) }
            if later.isEmpty { laterRounds = 0 }
            let writtenLeases = Set(batch.map(\.lease)).subtracting(later.map(\.lease))
            batch = batch.filter { writtenLeases.contains($0.lease) }
            if let soonest = retries.map(\.after).min() { retryAlarm.schedule(at: .now.advanced(by: soonest)) }
            for outcome in outcomes {
                logger.debug(
                    "execution \(outcome.status.rawValue)",
                    metadata: ["execution": "\(outcome.id)", "duration_ms": "\(outcome.durationMilliseconds)"]
                        .merging(outcome.errorMessage.map { ["error": "\($0)"] } ?? [:]) { $1 })
            }
            held.withLock { held in
                for completion in batch { held.remove(completion.lease) }
            }
            counters.withLock {
                $0.completionBatches += 1
                $0.completedExecutions += batch.count
            }
            gate.release(batch.count)
            if gate.isClosed && gate.inFlight == 0 { drained.signal() }
        }
    }

    /// Retries a database write with backoff: outcomes are never dropped while the database
    /// is away. While the daemon runs it retries until it succeeds; once it is stopping, at
    /// most `attempts` times (the leases then expire and another worker recovers the
    /// executions).
    private func persist(_ what: String, attempts: Int, _ operation: () async throws -> Void) async {
        var attempt = 0
        while true {
            attempt += 1
            do {
                try await operation()
                return
            } catch let error as PSQLError where QueueStore.isRefusal(error) {
                // Sending the same statement again cannot help: give this write up, never stall.
                logger.error("the database refused to \(what); skipped", metadata: ["error": "\(QueueStore.reason(error))"])
                return
            } catch {
                if gate.isClosed && attempt >= attempts { break }
                let delay = Backoff.delay(failedAttempt: attempt)
                logger.error("could not \(what); retrying", metadata: ["error": "\(String(reflecting: error))", "attempt": "\(attempt)"])
                try? await Task.sleep(for: delay)
            }
        }
        logger.critical("gave up trying to \(what); the leases will expire and the executions can be recovered")
    }

    /// Servers at their in-flight cap.
    private func saturatedServers() -> [UUID] {
        inFlightPerServer.withLock { counts in
            counts.compactMap { $0.value >= configuration.maxInFlightPerServer ? $0.key : nil }
        }
    }

    /// Logs circuit breaker state changes and records them on the server rows.
    private func recordCircuitChanges() async {
        for await (server, transition) in circuitChanges {
            let state: String
            var reason: String?
            var openFor: Duration?
            switch transition {
            case .opened(let until, let why):
                state = "open"
                reason = why
                openFor = until - breakers.now()
                logger.warning("circuit opened", metadata: ["server": "\(server.name)", "reason": "\(why)", "retry_after": "\(until - .now)"])
            case .halfOpened:
                state = "half_open"
                logger.info("circuit half-open: sending a trial call", metadata: ["server": "\(server.name)"])
            case .closed:
                state = "closed"
                logger.info("circuit closed", metadata: ["server": "\(server.name)"])
            }
            await persist("record the circuit state", attempts: 3) {
                try await self.servers.recordCircuit(serverID: server.id, state: state, reason: reason, openFor: openFor)
            }
        }
    }

    /// Another daemon recorded a circuit change (the payload is the server's id; nil after
    /// the LISTEN connection (re)connects: every recorded circuit is read again).
    public func circuitChanged(_ payload: String?) {
        adoptions.yield(payload.flatMap(UUID.init(uuidString:)))
    }

    /// Adopts the circuits other daemons recorded, so a server's circuit is the fleet's.
    private func adoptRecordedCircuits() async {
        for await serverID in adoptionRequests {
            do {
                for circuit in try await servers.circuitStates(serverID: serverID) {
                    switch circuit.state {
                    case "open" where (circuit.openFor ?? .zero) > .zero:
                        if case .closed = breakers.state(of: circuit.serverID) {
                            logger.info("circuit opened by another daemon", metadata: ["server_id": "\(circuit.serverID)", "reason": "\(circuit.reason ?? "")"])
                        }
                        breakers.adopt(serverID: circuit.serverID, openFor: circuit.openFor, reason: circuit.reason)
                    case "closed":
                        breakers.adopt(serverID: circuit.serverID, openFor: nil, reason: nil)
                    default:
                        break
                    }
                }
            } catch {
                logger.error("could not read a recorded circuit", metadata: ["error": "\(String(reflecting: error))"])
            }
        }
    }

    /// Periodic upkeep while the worker claims, every `pollInterval` (or a third of the lease,
    /// if shorter): the backstop for lost notifications, and the recovery of executions whose
    /// worker was lost (it crashed, or lost the database for longer than a lease).
    private func runMaintenance() async {
        let interval = min(configuration.pollInterval, configuration.leaseDuration / 3)
        while !Task.isCancelled && !gate.isClosed {
            try? await Task.sleep(for: interval)
            if Task.isCancelled || gate.isClosed { return }
            do {
                let recovered = try await store.recoverExpiredLeases(
                    defaultMaxAttempts: configuration.retry.maxAttempts, holding: held.withLock { Array($0) })
                if recovered.handedBack + recovered.ended > 0 {
                    logger.warning("took over executions whose worker was lost", metadata: [
                        "handed_back": "\(recovered.handedBack)", "ended_not_idempotent_or_out_of_attempts": "\(recovered.ended)",
                    ])
                }
            } catch {
                logger.error("lease recovery failed", metadata: ["error": "\(String(reflecting: error))"])
            }
            gate.signalWork()
        }
    }

    /// The heartbeat: while this worker holds executions, their leases are renewed every third
    /// of a lease (a second after a failed try). It keeps running while the worker drains, until
    /// the task group ends.
    private func runHeartbeat() async {
        var failed = false
        while !Task.isCancelled {
            try? await Task.sleep(for: failed ? .seconds(1) : configuration.leaseDuration / 3)
            if Task.isCancelled { return }
            let leases = held.withLock { Array($0) }
            guard !leases.isEmpty else { continue }
            do {
                try await store.renewLeases(configuration.leaseDuration, of: leases)
                counters.withLock { $0.leaseRenewals += 1 }
                failed = false
            } catch {
                failed = true
                logger.error("lease heartbeat failed", metadata: ["error": "\(String(reflecting: error))"])
            }
        }
    }
}
