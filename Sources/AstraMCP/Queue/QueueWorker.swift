import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Claims pending executions and runs them, at most `maxConcurrency` at a time.
///
/// The loop sleeps until a notification (see ``QueueListener``), the backstop timer or a
/// backlog gives a reason to look and a slot is free; then one statement claims as many rows
/// as there are free slots. Each execution runs in its own child task (``ExecutionRunner``); its
/// outcome goes to the ``CompletionWriter``, which stores outcomes in batches and returns a slot
/// only once its outcome is stored, so memory stays bounded whatever the queue holds. The
/// ``LeaseKeeper`` renews the leases held, ``ServerCaps`` keeps one server from taking every
/// slot, and ``FleetCircuits`` shares the circuit breakers with the other daemons.
///
/// Graceful shutdown (see ``Phase``): claiming stops, in-flight calls get `shutdownGrace` to
/// finish, then the sessions are closed. What had not reached its server, or is idempotent, is handed back to
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
        /// The cap on a call whose tool sets no `max_duration_seconds`.
        public var defaultMaxDuration: Duration = .seconds(3600)
        /// How long an execution waits for its confirmation (`requires_confirmation`).
        public var confirmationTimeout: Duration = .seconds(3600)
        /// Finished executions older than this many days are deleted; nil keeps them.
        public var executionRetentionDays: Int?
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
            defaultMaxDuration = daemon.defaultMaxDuration
            confirmationTimeout = daemon.confirmationTimeout
            executionRetentionDays = daemon.executionRetentionDays
            circuitBreaker = daemon.circuitBreaker
            retry = daemon.retry
        }
    }

    /// Where the worker is in its life: graceful shutdown moves it on, never back.
    enum Phase: UInt8, Sendable {
        /// Claiming and running executions.
        case claiming
        /// Shutdown began: no more claims; the calls in flight get `shutdownGrace` to finish.
        case draining
        /// The grace period is over: sessions are closed under the calls still in flight, and
        /// whatever may have reached a tool that is not idempotent ends `error`.
        case stoppingCalls
    }

    /// The settings now: a reload (``reconfigure(_:)``) replaces the live ones.
    var configuration: Configuration { settings.value }
    private let settings: LiveValue<Configuration>
    /// The lease owner this process writes: `<worker_id>/<random>`, so a restarted daemon with
    /// the same configured id neither renews nor writes its predecessor's leases (it recovers
    /// them once they expire).
    public let instanceID: String
    let store: QueueStore
    let pool: SessionPool
    let runner: ExecutionRunner
    let logger: Logger
    let gate: DispatchGate
    let leases: LeaseKeeper
    let caps: ServerCaps
    let writer: CompletionWriter
    let circuits: FleetCircuits
    let beacon: ProgressBeacon
    let progress: ProgressWriter
    let metrics: EngineMetrics
    let cancellations = CallCancellations()
    /// Cancel requests for executions this worker does not run: they may be pending, and end
    /// `cancelled` at once (bounded: beyond it, the claim ends them instead).
    private let unclaimedCancels = Mutex<Set<UUID>>([])
    private let unclaimedCancelsWake = WakeSignal()
    var breakers: CircuitBreakers { circuits.breakers }
    /// Wakes the claim loop when a retry becomes due.
    private let retryAlarm = Alarm()
    /// Wakes the upkeep loop early when a reload changed its interval.
    private let maintenanceWake = WakeSignal()
    private let phase = Atomic<UInt8>(Phase.claiming.rawValue)
    /// Set while a claim may have left leases of this process that it has not seen: from the
    /// moment the claim is sent until its rows are held, and, when its answer was lost, until the
    /// claim loop has handed them back. Meanwhile lease recovery spares this process's leases:
    /// those leases, expired, would look like a lost worker's, and a non-idempotent one would end
    /// `error` although it never ran. (A claim's answer can take longer than a lease: it is
    /// awaited up to the store's answer timeout.)
    private let unseenLeases = Atomic<Bool>(false)
    private let claims = Mutex((claims: 0, executions: 0))

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
    public var statistics: Statistics {
        let (claims, claimed) = self.claims.withLock { $0 }
        let (batches, completed) = writer.statistics
        return Statistics(
            claims: claims, claimedExecutions: claimed, completionBatches: batches, completedExecutions: completed,
            leaseRenewals: leases.renewalCount)
    }

    /// Executions this worker runs now.
    public var inFlight: Int { gate.inFlight }

    /// Signalled once the first claim statement has answered: from then on the queue is consumed
    /// (what `READY=1` waits for).
    let consuming = AsyncEvent()

    /// Where the worker is in its life.
    var currentPhase: Phase { Phase(rawValue: phase.load(ordering: .relaxed)) ?? .claiming }

    /// A lease owner for a process of the daemon configured as `workerID`: `<worker_id>/<random>`.
    public static func instanceID(for workerID: String) -> String {
        "\(workerID)/\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// - Parameters:
    ///   - store: The queue's statements, made as this worker's instance (see ``instanceID(for:)``).
    ///   - servers: Where circuit changes are recorded for the other daemons.
    ///   - progress: Where the sessions' progress reports go (the worker runs its writes).
    ///   - beacon: Where the claim loop and the completion writer show the watchdog they make
    ///     progress.
    ///   - onCallStarted: Called with an execution's id just before its `tools/call` is sent
    ///     (used by the benchmark to measure pickup latency).
    ///   - metrics: Where executions, circuits and outcome batches are counted.
    public init(
        configuration: Configuration,
        store: QueueStore,
        servers: ServerStore,
        progress: ProgressWriter,
        pool: SessionPool,
        logger: Logger,
        beacon: ProgressBeacon = ProgressBeacon(),
        onCallStarted: (@Sendable (UUID) -> Void)? = nil,
        metrics: EngineMetrics = .disabled
    ) {
        self.metrics = metrics
        self.beacon = beacon
        settings = LiveValue(configuration)
        instanceID = store.workerID
        self.store = store
        self.progress = progress
        self.pool = pool
        self.logger = logger
        let gate = DispatchGate(
            capacity: configuration.maxConcurrency,
            backlogClaimThreshold: min(configuration.claimBatchSize, configuration.maxConcurrency / 2))
        self.gate = gate
        let cancellations = cancellations
        let leases = LeaseKeeper(store: store, leaseDuration: configuration.leaseDuration, logger: logger) { cancelled in
            // The backstop for lost cancel notifications.
            for id in cancelled { cancellations.cancel(id) }
        }
        self.leases = leases
        caps = ServerCaps(maxInFlightPerServer: configuration.maxInFlightPerServer)
        writer = CompletionWriter(
            store: store, gate: gate, leases: leases, retryAlarm: retryAlarm, beacon: beacon, batchSize: configuration.completionBatchSize,
            maxConcurrency: configuration.maxConcurrency, logger: logger, metrics: metrics)
        let circuits = FleetCircuits(
            configuration: .init(configuration.circuitBreaker),
            servers: servers, logger: logger,
            isStopping: { gate.isClosed }, metrics: metrics)
        self.circuits = circuits
        runner = ExecutionRunner(
            pool: pool, breakers: circuits.breakers, limits: LiveValue(ExecutionRunner.Limits(configuration)),
            cancellations: cancellations, store: store, schemas: ToolSchemaCache(store: store), logger: logger, onCallStarted: onCallStarted,
            metrics: metrics)
    }

    /// Applies a reloaded configuration's live settings: concurrency, the per-server cap, the
    /// poll interval, limits and retries of calls, the grace period and retention. Calls in
    /// flight keep the limits they started with; what else was built at start stays.
    public func reconfigure(_ daemon: DaemonConfiguration) {
        var updated = configuration
        updated.maxConcurrency = daemon.maxConcurrency
        updated.maxInFlightPerServer = daemon.maxInFlightPerServer
        updated.pollInterval = daemon.pollInterval
        updated.shutdownGrace = daemon.shutdownGrace
        updated.defaultMaxDuration = daemon.defaultMaxDuration
        updated.confirmationTimeout = daemon.confirmationTimeout
        updated.executionRetentionDays = daemon.executionRetentionDays
        updated.retry = daemon.retry
        updated.circuitBreaker.maxWait = daemon.circuitBreaker.maxWait
        settings.value = updated
        runner.limits.value = ExecutionRunner.Limits(updated)
        caps.maxInFlightPerServer = updated.maxInFlightPerServer
        gate.resize(to: updated.maxConcurrency)
        maintenanceWake.signal()
    }

    /// Wakes the claim loop: something may have been enqueued.
    public func notifyWork() {
        gate.signalWork()
    }

    /// The backend asked to cancel an execution (`astra_mcpd_cancel`, payload: its id). One this
    /// worker runs is cancelled at once; any other may be pending, and is ended by a statement.
    public func cancelRequested(_ payload: String?) {
        // nil: the listener reconnected. What it missed reaches the calls by the heartbeat, and
        // pending executions by their claim.
        guard let payload else { return }
        guard let id = UUID(uuidString: payload) else {
            logger.warning("ignoring a cancel notification without an execution id", metadata: ["payload": "\(payload)"])
            return
        }
        if cancellations.cancel(id) { return }
        let added = unclaimedCancels.withLock { ids in
            guard ids.count < Self.maxUnclaimedCancels else { return false }
            return ids.insert(id).inserted
        }
        if added { unclaimedCancelsWake.signal() }
    }

    /// The most cancel requests waiting for their statement; more are left to the claim.
    static let maxUnclaimedCancels = 10_000

    /// Ends the pending executions whose cancel was asked for, in batches, until cancelled.
    private func runUnclaimedCancels() async {
        var failures = 0
        while !Task.isCancelled {
            let ids = unclaimedCancels.withLock { ids in
                defer { ids = [] }
                return ids
            }
            guard !ids.isEmpty else {
                await unclaimedCancelsWake.wait(timeout: .seconds(3600))
                continue
            }
            do {
                let ended = try await store.cancelUnclaimed(Array(ids))
                failures = 0
                if ended > 0 { logger.debug("cancelled pending executions", metadata: ["count": "\(ended)"]) }
            } catch {
                // Kept for the next try; the claim ends them meanwhile if it comes first.
                unclaimedCancels.withLock { $0.formUnion(ids) }
                failures += 1
                logger.error("could not cancel pending executions; retrying", metadata: ["error": "\(String(reflecting: error))"])
                try? await Task.sleep(for: Backoff.delay(failedAttempt: failures))
            }
        }
    }

    /// Another daemon recorded a circuit change (see ``FleetCircuits/circuitChanged(_:)``).
    public func circuitChanged(_ payload: String?) {
        circuits.circuitChanged(payload)
    }

    public func run() async throws {
        let completions = CompletionBuffer(maxBatch: configuration.completionBatchSize)
        logger.info("queue worker started", metadata: ["instance": "\(instanceID)"])
        let drained = AsyncEvent()
        let writerDone = AsyncEvent()
        await withDiscardingTaskGroup { group in
            group.addTask {
                await self.writer.run(completions, drained: drained)
                writerDone.signal()
            }
            group.addTask { await self.runMaintenance() }
            group.addTask { await self.leases.runHeartbeat() }
            group.addTask { await self.retryAlarm.run { self.gate.signalWork() } }
            group.addTask { await self.circuits.run() }
            group.addTask { await self.progress.run() }
            group.addTask { await self.runUnclaimedCancels() }

            await withGracefulShutdownHandler {
                await self.claimLoop(group: &group, completions: completions)
            } onGracefulShutdown: {
                self.gate.close()
            }

            // Draining: in-flight calls get the grace period; then their sessions are closed,
            // which fails the calls: those that may have reached a tool that is not idempotent
            // end `error`, the others are handed back to the queue (see ExecutionRunner).
            phase.store(Phase.draining.rawValue, ordering: .relaxed)
            logger.info("draining", metadata: ["in_flight": "\(gate.inFlight)"])
            if gate.inFlight == 0 { drained.signal() }
            if !(await drained.wait(timeout: configuration.shutdownGrace)) {
                logger.warning("grace period over; stopping the calls still in flight", metadata: ["in_flight": "\(gate.inFlight)"])
                phase.store(Phase.stoppingCalls.rawValue, ordering: .relaxed)
                pool.shutdown()
                // The children get their exit grace (twice: stdin EOF, then SIGTERM) before
                // SIGKILL closes every session for sure.
                await drained.wait()
            }
            completions.finish()
            await writerDone.wait()
            circuits.finish()
            group.cancelAll()
        }
        logger.info("queue worker stopped")
    }

    private func claimLoop(group: inout DiscardingTaskGroup, completions: CompletionBuffer) async {
        var failures = 0
        while true {
            beacon.idle("claim loop")
            guard let free = await gate.waitForWork() else { break }
            beacon.busy("claim loop")
            // Hand back, before the next claim (never beside one), what a claim whose answer was
            // lost leased: this worker never saw those executions, so it never started them.
            if unseenLeases.load(ordering: .acquiring) {
                do {
                    let released = try await store.releaseUnheldLeases(holding: leases.leases)
                    unseenLeases.store(false, ordering: .releasing)
                    if released > 0 {
                        logger.warning("handed back executions of a claim whose answer was lost", metadata: ["count": "\(released)"])
                    }
                } catch {
                    failures += 1
                    logger.error("could not hand back the leases of a lost claim; retrying", metadata: ["error": "\(String(reflecting: error))"])
                    try? await Task.sleep(for: Backoff.delay(failedAttempt: failures))
                    gate.signalWork()
                    continue
                }
            }
            let limit = min(free, configuration.claimBatchSize)
            let claimed: [ClaimedExecution]
            // Its leases exist from its commit on, before its answer is in.
            unseenLeases.store(true, ordering: .releasing)
            do {
                claimed = try await store.claim(limit: limit, lease: configuration.leaseDuration, excludingServers: caps.saturated)
                consuming.signal()
                if failures > 0 { logger.info("claiming works again") }
                failures = 0
            } catch {
                // The claim may have committed with its answer lost: the flag stays set until the
                // hand-back above.
                failures += 1
                let delay = Backoff.delay(failedAttempt: failures)
                logger.error("claim failed; retrying", metadata: ["error": "\(String(reflecting: error))", "retry_in": "\(delay)"])
                try? await Task.sleep(for: delay)
                gate.signalWork()
                continue
            }
            if FaultInjection.wedgesClaimLoop && !claimed.isEmpty {
                logger.warning("fault injection: the claim loop wedges")
                try? await Task.sleep(for: .seconds(86_400 * 365))
            }
            gate.claimed(claimed.count, full: claimed.count == limit)
            claims.withLock {
                $0.claims += 1
                $0.executions += claimed.count
            }
            caps.claimed(claimed)
            leases.hold(claimed)
            unseenLeases.store(false, ordering: .releasing)
            // The metric handles of the whole claim, under one lock (none when metrics are off).
            for (execution, meters) in zip(claimed, metrics.executionMeters(for: claimed)) {
                cancellations.starting(execution.id)
                logger.debug("claimed", metadata: execution.logMetadata)
                group.addTask {
                    let completion = await self.runner.run(execution) { self.currentPhase == .stoppingCalls }
                    meters?.record(completion)
                    self.cancellations.finished(execution.id)
                    self.progress.forget(execution.id)
                    let wasSaturated = self.caps.finished(serverID: execution.server.id)
                    completions.submit(completion)
                    // Claims skipped this server's executions while it was at its cap: look again.
                    if wasSaturated { self.gate.signalWork() }
                }
            }
        }
    }

    /// Periodic upkeep while the worker claims, every `pollInterval` (or a third of the lease,
    /// if shorter): the backstop for lost notifications, and the recovery of executions whose
    /// worker was lost (it crashed, or lost the database for longer than a lease).
    private func runMaintenance() async {
        while !Task.isCancelled && !gate.isClosed {
            // Read each round: a reload may have changed the poll interval (and wakes this).
            await maintenanceWake.wait(timeout: min(configuration.pollInterval, configuration.leaseDuration / 3))
            if Task.isCancelled || gate.isClosed { return }
            do {
                // Read before the leases held: a claim whose rows are held has lowered it.
                let sparingOwn = unseenLeases.load(ordering: .acquiring)
                let recovered = try await store.recoverExpiredLeases(
                    defaultMaxAttempts: configuration.retry.maxAttempts, holding: leases.leases, sparingOwn: sparingOwn)
                if recovered.handedBack + recovered.ended > 0 {
                    logger.warning("took over executions whose worker was lost", metadata: [
                        "handed_back": "\(recovered.handedBack)", "ended_not_idempotent_or_out_of_attempts": "\(recovered.ended)",
                    ])
                }
            } catch {
                logger.error("lease recovery failed", metadata: ["error": "\(String(reflecting: error))"])
            }
            do {
                let expired = try await store.expireUnconfirmed(after: configuration.confirmationTimeout)
                if expired > 0 { logger.notice("executions not confirmed in time ended error", metadata: ["count": "\(expired)"]) }
            } catch {
                logger.error("could not end unconfirmed executions", metadata: ["error": "\(String(reflecting: error))"])
            }
            if let days = configuration.executionRetentionDays {
                do {
                    let deleted = try await store.deleteExpiredExecutions(olderThanDays: days)
                    if deleted > 0 { logger.info("deleted executions past their retention", metadata: ["count": "\(deleted)", "days": "\(days)"]) }
                } catch {
                    logger.error("could not delete executions past their retention", metadata: ["error": "\(String(reflecting: error))"])
                }
            }
            do {
                _ = try await store.deleteSpentRateCounters()
            } catch {
                logger.error("could not delete spent rate-limit counters", metadata: ["error": "\(String(reflecting: error))"])
            }
            gate.signalWork()
        }
    }
}
