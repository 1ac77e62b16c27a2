import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import UnixSignals

/// The daemon: builds its services from a ``DaemonConfiguration`` and runs them as one
/// `ServiceGroup`.
///
/// Services start in this order and shut down in reverse: the PostgreSQL pool (needed until
/// the very end to write outcomes), the session pool (its children outlive the worker's drain),
/// the queue worker, the LISTEN loop, the startup sync and the systemd watchdog.
public struct AstraDaemon: Sendable {
    public let configuration: DaemonConfiguration
    public let logger: Logger

    public init(configuration: DaemonConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// The parts of a running daemon, for callers that drive it themselves (demo, benchmark).
    public struct Parts: Sendable {
        public let database: PostgresClient
        public let pool: SessionPool
        public let worker: QueueWorker
        public let services: [any Service]
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
            configuration: url.clientConfiguration(maximumConnections: configuration.databasePoolSize),
            backgroundLogger: logger)
        var poolConfiguration = SessionPool.Configuration()
        poolConfiguration.initializeTimeout = configuration.initializeTimeout
        poolConfiguration.childExitGrace = configuration.childExitGrace
        poolConfiguration.maxMessageBytes = configuration.maxMessageBytes
        let logger = self.logger
        let pool = SessionPool(configuration: poolConfiguration, logger: logger) { server in
            var handlers = MCPConnection.Handlers()
            handlers.progress = { token, progress, total, message in
                logger.debug("progress", metadata: [
                    "server": "\(server.name)", "execution": "\(token)", "progress": "\(progress)",
                    "total": "\(total.map { "\($0)" } ?? "-")", "message": "\(message ?? "")",
                ])
            }
            return handlers
        }
        let worker = QueueWorker(
            configuration: QueueWorker.Configuration(configuration), database: database, pool: pool, logger: logger,
            onCallStarted: onCallStarted)
        let listener = QueueListener(database: database, logger: logger) { worker.notifyWork() }
        let startup = StartupService(
            syncer: configuration.syncOnStart ? ToolSyncer(database: database, pool: pool, logger: logger) : nil, logger: logger)
        return Parts(
            database: database, pool: pool, worker: worker,
            services: [database, pool, worker, listener, startup, WatchdogService()])
    }

    /// Runs until SIGTERM or SIGINT, then drains and returns.
    public func run() async throws {
        try await preflight()
        let parts = try makeParts()
        let group = ServiceGroup(
            configuration: .init(
                services: parts.services.map { .init(service: $0) },
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

/// Tells systemd the daemon is ready, syncs every active server's tools once, and on shutdown
/// tells systemd it is stopping.
struct StartupService: Service {
    let syncer: ToolSyncer?
    let logger: Logger

    func run() async throws {
        Systemd.notify("READY=1\nSTATUS=claiming executions")
        if let syncer {
            do {
                let results = try await syncer.syncAll()
                let failed = results.filter { if case .failure = $0 { return true } else { return false } }.count
                logger.info("startup sync done", metadata: ["servers": "\(results.count)", "failed": "\(failed)"])
            } catch {
                logger.error("startup sync failed", metadata: ["error": "\(String(reflecting: error))"])
            }
        }
        try? await gracefulShutdown()
        Systemd.notify("STOPPING=1\nSTATUS=draining")
    }
}
