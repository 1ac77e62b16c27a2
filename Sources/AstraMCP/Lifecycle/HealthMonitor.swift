import Foundation
import Logging
import PostgresNIO
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

    let configuration: Configuration
    let database: PostgresClient
    let pool: SessionPool
    let logger: Logger
    private let wake = WakeSignal()

    /// Looks at the schedule now (a server was added or changed).
    public func wakeUp() {
        wake.signal()
    }

    public init(configuration: Configuration, database: PostgresClient, pool: SessionPool, logger: Logger) {
        self.configuration = configuration
        self.database = database
        self.pool = pool
        self.logger = logger
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var failures = 0
            while !Task.isCancelled {
                do {
                    let due = try await database.execute(
                        ClaimDueHealthChecksStatement(limit: configuration.parallelism, intervalSeconds: Backoff.milliseconds(configuration.interval) / 1000),
                        logger: logger
                    ).collectAll()
                    failures = 0
                    if due.isEmpty {
                        await wake.wait(timeout: try await timeUntilNextDue())
                        continue
                    }
                    await withTaskGroup(of: Void.self) { group in
                        for server in due { group.addTask { await check(server) } }
                    }
                } catch is CancellationError {
                    return
                } catch {
                    failures += 1
                    logger.error("health checks could not be scheduled", metadata: ["error": "\(String(reflecting: error))"])
                    try await Task.sleep(for: Backoff.delay(failedAttempt: failures))
                }
            }
        }
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
            let statement = RecordHealthStatement(
                serverID: server.id, healthy: failure == nil, error: failure,
                unhealthyAfterSeconds: Backoff.milliseconds(configuration.unhealthyAfter) / 1000,
                deactivateUnhealthy: configuration.deactivateUnhealthy)
            for try await (wasHealthy, isHealthy, deactivated) in try await database.execute(statement, logger: logger) {
                if let failure {
                    logger.warning("health check failed", metadata: ["server": "\(server.name)", "error": "\(failure)"])
                }
                if wasHealthy && !isHealthy {
                    logger.error("server is unhealthy", metadata: ["server": "\(server.name)", "error": "\(failure ?? "")"])
                } else if !wasHealthy && isHealthy {
                    logger.notice("server recovered", metadata: ["server": "\(server.name)"])
                }
                if deactivated {
                    logger.error("server deactivated: unhealthy for too long", metadata: ["server": "\(server.name)"])
                    pool.retire(serverID: server.id, reason: "deactivated as unhealthy", deactivated: true)
                }
            }
        } catch {
            logger.error("could not record a health check", metadata: ["server": "\(server.name)", "error": "\(String(reflecting: error))"])
        }
    }

    /// How long until a server is due, at most one interval.
    private func timeUntilNextDue() async throws -> Duration {
        let horizon = Date().addingTimeInterval(Backoff.milliseconds(configuration.interval) / 1000)
        var seconds = Backoff.milliseconds(configuration.interval) / 1000
        for try await (health, _) in try await database.execute(SecondsUntilDueStatement(horizon: horizon), logger: logger) {
            if let health { seconds = health }
        }
        return .milliseconds(Int64(max(0.05, seconds) * 1000))
    }
}
