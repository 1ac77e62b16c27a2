import Foundation
import Logging
import ServiceLifecycle

/// Checks every active server on an interval and records the result on its row:
/// `connection_status` (`connected` or `error`), `last_connected_at`, `last_error`,
/// `failing_since` and `is_healthy`. A server failing for longer than `unhealthyAfter` is
/// unhealthy and, if configured, deactivated with the reason in `deactivated_reason`.
///
/// A check is a `ping` on the server's session, which starts one (a fresh initialize) when none
/// is open. Checks are scheduled in the database (`next_health_check_at`, spread by jitter) and
/// claimed with SKIP LOCKED, so several daemons share the work and each server is checked once
/// per interval; at most `parallelism` run at once.
public struct HealthMonitor: Service {
    public struct Configuration: Sendable {
        public var interval: Duration = .seconds(30)
        public var timeout: Duration = .seconds(10)
        public var parallelism = 8
        public var unhealthyAfter: Duration = .seconds(300)
        public var deactivateUnhealthy = false
        public init() {}

        /// The health settings of a daemon configuration.
        public init(_ daemon: DaemonConfiguration) {
            interval = daemon.healthCheckInterval
            timeout = daemon.healthCheckTimeout
            parallelism = daemon.healthCheckParallelism
            unhealthyAfter = daemon.unhealthyAfter
            deactivateUnhealthy = daemon.deactivateUnhealthy
        }
    }

    /// The settings now: a reload (``reconfigure(_:)``) replaces them.
    var configuration: Configuration { settings.value }
    private let settings: LiveValue<Configuration>
    let store: ServerStore
    let pool: SessionPool
    let logger: Logger
    private let wake = WakeSignal()

    /// Applies reloaded health settings; each server's next check is scheduled with the new
    /// interval (the one already due keeps its time).
    public func reconfigure(_ daemon: DaemonConfiguration) {
        settings.value = Configuration(daemon)
        wake.signal()
    }

    /// Looks at the schedule now (a server was added or changed).
    public func wakeUp() {
        wake.signal()
    }

    public init(configuration: Configuration, store: ServerStore, pool: SessionPool, logger: Logger) {
        settings = LiveValue(configuration)
        self.store = store
        self.pool = pool
        self.logger = logger
    }

    public func run() async throws {
        let loop = DueWorkLoop(
            work: "health checks", logger: logger, wake: wake,
            claim: { [store, settings] in
                try await store.claimDueHealthChecks(limit: settings.value.parallelism, interval: settings.value.interval)
            },
            untilNextDue: { [store, settings] in try await store.timeUntilDue(within: settings.value.interval).health },
            perform: { server in await check(server) })
        try? await cancelWhenGracefulShutdown { await loop.run() }
    }

    /// Checks one server and records the outcome.
    func check(_ server: ServerDescriptor) async {
        var failure: String?
        var session: SessionPool.Session?
        do {
            session = try await pool.session(for: server)
            try await session?.connection.ping(timeout: configuration.timeout)
        } catch {
            failure = String(((error as? MCPSessionError)?.message ?? "\(error)").prefix(1000))
            // Only when nothing else is in flight: a server that answers one request at a time
            // may just be busy with a long call (the call timeouts catch a real hang).
            if let session, (error as? MCPSessionError)?.code == .timeout, session.connection.pendingCount == 0 {
                // A session that does not answer a ping is hung: close it, so the pool starts a
                // fresh one for the next call instead of queueing calls behind it.
                session.connection.close(MCPSessionError(
                    .disconnected, "server '\(server.name)' did not answer a ping within \(configuration.timeout)"))
            }
        }
        do {
            if let failure {
                logger.warning("health check failed", metadata: server.logMetadata.merging(["error": "\(failure)"]) { $1 })
            }
            guard
                let change = try await store.recordHealth(
                    serverID: server.id, failure: failure, unhealthyAfter: configuration.unhealthyAfter,
                    deactivateUnhealthy: configuration.deactivateUnhealthy)
            else { return }
            if change.wasHealthy && !change.isHealthy {
                logger.error("server is unhealthy", metadata: server.logMetadata.merging(["error": "\(failure ?? "")"]) { $1 })
            } else if !change.wasHealthy && change.isHealthy {
                logger.notice("server recovered", metadata: server.logMetadata)
            }
            if change.deactivated {
                logger.error("server deactivated: unhealthy for too long", metadata: server.logMetadata)
                pool.retire(serverID: server.id, reason: "deactivated as unhealthy", deactivated: true)
            }
        } catch is CancellationError {
            return
        } catch {
            logger.error("could not record a health check", metadata: server.logMetadata.merging(["error": "\(String(reflecting: error))"]) { $1 })
        }
    }
}
