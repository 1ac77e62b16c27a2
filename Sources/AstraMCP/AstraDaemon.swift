import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The daemon: builds its services from a ``DaemonConfiguration`` and runs them as one
/// `ServiceGroup`.
///
/// Services start in this order and shut down in reverse: the PostgreSQL pool (needed until
/// the very end to write outcomes), the session pool (its children outlive the worker's drain),
/// the queue worker, the lifecycle services, the LISTEN connection that wakes them, the startup
/// sync and the systemd watchdog.
public struct AstraDaemon: Sendable {
    public let configuration: DaemonConfiguration
    public let logger: Logger
    /// The level every log handler reads, which a reload sets.
    public let logLevel: LogLevelSwitch?
    /// Reads the configuration again as at start, for SIGHUP (`systemctl reload`); nil leaves
    /// SIGHUP alone.
    public let reloadConfiguration: (@Sendable () throws -> DaemonConfiguration)?

    public init(
        configuration: DaemonConfiguration, logger: Logger, logLevel: LogLevelSwitch? = nil,
        reloadConfiguration: (@Sendable () throws -> DaemonConfiguration)? = nil
    ) {
        self.configuration = configuration
        self.logger = logger
        self.logLevel = logLevel
        self.reloadConfiguration = reloadConfiguration
    }

    /// The parts of a running daemon, for callers that drive it themselves (demo, benchmark).
    public struct Parts: Sendable {
        public let database: PostgresClient
        /// Runs `database`; ``waitUntilDatabaseRuns()`` before using it outside the services.
        public let databaseService: DatabaseService
        /// The server lifecycle's statements, on `database`.
        public let servers: ServerStore
        public let pool: SessionPool
        public let worker: QueueWorker
        public let syncScheduler: ToolSyncScheduler
        public let deliverer: CallbackDeliverer
        /// What the engine records on (records nothing unless a metrics backend was bootstrapped).
        public let metrics: EngineMetrics
        public let services: [any Service]

        /// Returns once the services' PostgreSQL client runs.
        public func waitUntilDatabaseRuns() async {
            await databaseService.waitUntilRunning()
        }
    }

    /// Checks the database is reachable and migrated. Throws a one-line error otherwise.
    public func preflight() async throws {
        let url = try DatabaseURL(configuration.requireDatabaseURL())
        try await url.withConnection(logger: logger) { connection in
            try await Migrator(migrations: Migration.bundled(configuredDirectory: configuration.migrationsDirectory), logger: logger).checkUpToDate(connection)
        }
    }

    /// Builds the services.
    /// - Parameter onCallStarted: The benchmark's pickup-latency hook.
    public func makeParts(onCallStarted: (@Sendable (UUID) -> Void)? = nil) throws -> Parts {
        let url = try DatabaseURL(configuration.requireDatabaseURL())
        let database = PostgresClient(
            configuration: url.clientConfiguration(
                maximumConnections: configuration.databasePoolSize, statementTimeout: configuration.statementTimeout,
                lockTimeout: configuration.lockTimeout),
            backgroundLogger: logger)
        let logger = self.logger
        // The process's metrics backend: Prometheus when `run` serves metrics, else no-op.
        let metrics = EngineMetrics(labelCap: configuration.metricsLabelCap)
        if let problem = (Result { try CredentialKeyring.load(directory: configuration.credentialKeysDirectory) }).failureDescription {
            logger.notice("stored credentials are unavailable until keys are added", metadata: ["reason": "\(problem)"])
        }
        // Beyond statement_timeout, so only a hung request meets it.
        let answerTimeout = configuration.statementTimeout + .seconds(15)
        let queue = QueueStore(
            database: database, workerID: QueueWorker.instanceID(for: configuration.workerID), logger: logger, answerTimeout: answerTimeout,
            metrics: metrics)
        let progress = ProgressWriter(store: queue, interval: configuration.progressInterval, logger: logger)
        let credentialStore = CredentialStore(database: database, keysDirectory: configuration.credentialKeysDirectory, logger: logger)
        // The pool reports list_changed and reconnects to the sync scheduler, which needs the
        // pool itself: the box ties the knot.
        let scheduler = Box<ToolSyncScheduler>()
        let pool = SessionPool(
            configuration: SessionPool.Configuration(configuration), logger: logger,
            handlersForServer: { server in
                var handlers = MCPConnection.Handlers()
                handlers.progress = { token, value, total, message in
                    progress.report(token: token, progress: value, total: total, message: message)
                }
                handlers.toolsListChanged = {
                    logger.info("server says its tools changed", metadata: server.logMetadata)
                    scheduler.value?.requestSync(server)
                }
                return handlers
            },
            onSessionReady: { server, _ in scheduler.value?.requestSync(server) },
            credentials: { server, credentialType in
                try await credentialStore.secret(serverID: server.id, serverName: server.name, credentialType: credentialType)
            }, metrics: metrics)
        let servers = ServerStore(database: database, logger: logger, answerTimeout: answerTimeout, metrics: metrics)
        let syncer = ToolSyncer(store: servers, pool: pool, logger: logger)
        let syncScheduler = ToolSyncScheduler(interval: configuration.toolSyncInterval, syncer: syncer, store: servers, logger: logger)
        scheduler.value = syncScheduler

        let beacon = ProgressBeacon()
        let worker = QueueWorker(
            configuration: QueueWorker.Configuration(configuration), store: queue, servers: servers, progress: progress, pool: pool, logger: logger, beacon: beacon,
            onCallStarted: onCallStarted, metrics: metrics)
        let health = HealthMonitor(configuration: HealthMonitor.Configuration(configuration), store: servers, pool: pool, logger: logger)
        let watcher = ServerWatcher(
            store: servers, pool: pool, syncScheduler: syncScheduler, healthMonitor: health, reconcileInterval: configuration.reconcileInterval,
            eagerConnect: configuration.eagerConnect, logger: logger)
        let deliverer = CallbackDeliverer(
            configuration: CallbackDeliverer.Configuration(configuration),
            store: CallbackStore(database: database, owner: queue.workerID, logger: logger, answerTimeout: answerTimeout, metrics: metrics),
            credentials: credentialStore, logger: logger)
        let inbox = CredentialInboxService(store: credentialStore, logger: logger) { serverID in
            pool.retire(serverID: serverID, reason: "its credential changed")
        }
        // Every LISTEN on one connection.
        let listener = ChannelListener(
            database: database, logger: logger,
            handlers: [
                ChannelListener.pendingExecutions: { _ in worker.notifyWork() },
                ChannelListener.serverChanges: watcher.serverChanged,
                ChannelListener.circuitChanges: worker.circuitChanged,
                ChannelListener.cancelRequests: worker.cancelRequested,
                ChannelListener.callbacks: deliverer.deliveryQueued,
                ChannelListener.credentialInbox: inbox.inboxPosted,
            ])
        // READY=1 waits for SIGHUP to be trapped, too: a reload before would kill the daemon.
        let trapping = AsyncEvent()
        var reloader: ConfigurationReloader?
        if let reloadConfiguration {
            let logLevel = self.logLevel
            reloader = ConfigurationReloader(
                running: configuration, load: reloadConfiguration,
                apply: { new, old in
                    logLevel?.level = new.logLevel
                    worker.reconfigure(new)
                    progress.reconfigure(interval: new.progressInterval)
                    health.reconfigure(new)
                    syncScheduler.reconfigure(interval: new.toolSyncInterval)
                    watcher.reconfigure(reconcileInterval: new.reconcileInterval)
                    deliverer.reconfigure(new)
                    pool.reconfigure(stdioCommands: new.stdioCommands, networkPolicy: new.networkPolicy)
                    guard new.healthCheckInterval < old.healthCheckInterval || new.toolSyncInterval < old.toolSyncInterval else { return }
                    do {
                        try await servers.bringSchedules(healthWithin: new.healthCheckInterval, syncWithin: new.toolSyncInterval)
                    } catch {
                        logger.error("could not reschedule health checks and tool syncs to the new intervals", metadata: ["error": "\(String(reflecting: error))"])
                    }
                },
                trapping: trapping, logger: logger)
        } else {
            trapping.signal()
        }
        let startup = StartupService(
            store: servers, syncOnStart: configuration.syncOnStart, consuming: worker.consuming, trapping: trapping, logger: logger)
        let heartbeat = InstanceHeartbeat(
            store: StatusStore(database: database, logger: logger, answerTimeout: answerTimeout, metrics: metrics), instanceID: queue.workerID,
            inFlight: { worker.inFlight }, sessions: { pool.liveSessions }, completed: { worker.statistics.completedExecutions }, logger: logger,
            metrics: metrics)
        let databaseService = DatabaseService(client: database)
        // Services shut down in reverse order: the watchdog last, so it keeps pinging while the
        // worker drains.
        let watchdog = WatchdogService(beacon: beacon, stepLimit: configuration.statementTimeout + .seconds(20), logger: logger)
        // The deliverer stops after the worker, so the last outcomes' callbacks still go out.
        let others: [any Service] = [watchdog, heartbeat, pool, deliverer, worker, watcher, health, syncScheduler, inbox, listener, startup]
            + (reloader.map { [$0] } ?? [])
        return Parts(
            database: database, databaseService: databaseService, servers: servers, pool: pool, worker: worker, syncScheduler: syncScheduler, deliverer: deliverer,
            metrics: metrics, services: [databaseService] + others.map(databaseService.gating))
    }

    /// Runs until SIGTERM or SIGINT, then drains and returns.
    public func run() async throws {
        // Before anything else: children must not read this process's environment or memory.
        try ProcessHardening.makeNonDumpable()
        try await preflight()
        // Before the parts, whose metric handles come from the backend bootstrapped here; and
        // bound now, so a port in use stops the daemon before it claims anything.
        var metricsService: MetricsService?
        if let address = configuration.metricsListen {
            metricsService = try await MetricsService.listen(on: address, registry: EngineMetrics.bootstrapPrometheus(), logger: logger)
        }
        let parts = try makeParts()
        // First, so it stops last: the endpoint answers while the others drain.
        let services = (metricsService.map { [$0] } ?? []) + parts.services
        let group = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                cancellationSignals: [],
                logger: logger))
        logger.info("astra-mcpd starting", metadata: [
            "worker": "\(configuration.workerID)", "max_concurrency": "\(configuration.maxConcurrency)",
        ])
        try await group.run()
        logger.info("astra-mcpd stopped")
    }
}

/// Tells systemd the daemon is ready once the queue is being consumed (the worker's first claim
/// has answered), makes every server's tool sync due (`sync_on_start`), and on shutdown tells
/// systemd it is stopping.
struct StartupService: Service {
    let store: ServerStore
    let syncOnStart: Bool
    /// Signalled by the worker's first claim.
    let consuming: AsyncEvent
    /// Signalled once SIGHUP is trapped (or not to be handled).
    let trapping: AsyncEvent
    let logger: Logger

    func run() async throws {
        // A shutdown before the first claim cancels the wait: no READY then, only STOPPING.
        try? await cancelWhenGracefulShutdown {
            await consuming.wait()
            await trapping.wait()
        }
        if consuming.isSignalled && trapping.isSignalled { Systemd.notify("READY=1\nSTATUS=claiming executions") }
        if syncOnStart {
            do {
                try await store.scheduleAllSyncsNow()
            } catch {
                logger.error("could not schedule the startup sync", metadata: ["error": "\(String(reflecting: error))"])
            }
        }
        try? await gracefulShutdown()
        Systemd.notify("STOPPING=1\nSTATUS=draining")
    }
}

/// A value set once after creation, for references that would otherwise be circular.
final class Box<Value: Sendable>: Sendable {
    private let storage = Mutex<Value?>(nil)
    var value: Value? {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
    init() {}
}

extension Result {
    /// The error's description, or nil on success.
    var failureDescription: String? {
        if case .failure(let error) = self { return "\(error)" }
        return nil
    }
}
