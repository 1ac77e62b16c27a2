import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Keeps every active server's tools current in `mcp_tools`: on its interval, when the backend
/// asks (`UPDATE mcp_servers SET sync_requested_at = now() WHERE id = …`), when the server says
/// `notifications/tools/list_changed`, and after every (re)connect.
///
/// Scheduled and requested syncs are claimed from the database with SKIP LOCKED, so with
/// several daemons each server is synced once per interval; list_changed and reconnect syncs
/// are done by the daemon holding the session.
public final class ToolSyncScheduler: Service, Sendable {
    let interval: Duration
    let syncer: ToolSyncer
    let database: PostgresClient
    let logger: Logger
    private let wake = WakeSignal()
    private let requested = Mutex<Set<UUID>>([])

    public init(interval: Duration, syncer: ToolSyncer, database: PostgresClient, logger: Logger) {
        self.interval = interval
        self.syncer = syncer
        self.database = database
        self.logger = logger
    }

    /// Syncs `server` soon, in this daemon (its tools changed, or its session reconnected).
    public func requestSync(_ server: ServerDescriptor) {
        requested.withLock { _ = $0.insert(server.id) }
        wake.signal()
    }

    /// Looks at the database now (a server row changed).
    public func wakeUp() {
        wake.signal()
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var failures = 0
            while !Task.isCancelled {
                do {
                    let ids = self.requested.withLock { requested in
                        defer { requested = [] }
                        return requested
                    }
                    // Requests name a server; its row is read now, so a request made before the
                    // server was reconfigured or deactivated cannot bring the old one back.
                    var servers: [UUID: ServerDescriptor] = [:]
                    for id in ids {
                        for try await server in try await self.database.execute(ServerByIDStatement(id: id), logger: self.logger)
                        where server.isActive {
                            servers[id] = server
                        }
                    }
                    let due = try await self.database.execute(
                        ClaimDueSyncsStatement(limit: 16, intervalSeconds: Backoff.milliseconds(self.interval) / 1000), logger: self.logger
                    ).collectAll()
                    for server in due { servers[server.id] = server }
                    failures = 0
                    if servers.isEmpty {
                        await self.wake.wait(timeout: try await self.timeUntilNextDue())
                        continue
                    }
                    await withTaskGroup(of: Void.self) { group in
                        for server in servers.values {
                            group.addTask { _ = try? await self.syncer.sync(server) }
                        }
                    }
                } catch is CancellationError {
                    return
                } catch {
                    failures += 1
                    self.logger.error("tool syncs could not be scheduled", metadata: ["error": "\(String(reflecting: error))"])
                    try await Task.sleep(for: Backoff.delay(failedAttempt: failures))
                }
            }
        }
    }

    private func timeUntilNextDue() async throws -> Duration {
        let horizon = Date().addingTimeInterval(Backoff.milliseconds(interval) / 1000)
        var seconds = Backoff.milliseconds(interval) / 1000
        for try await (_, sync) in try await database.execute(SecondsUntilDueStatement(horizon: horizon), logger: logger) {
            if let sync { seconds = sync }
        }
        return .milliseconds(Int64(max(0.05, seconds) * 1000))
    }
}
