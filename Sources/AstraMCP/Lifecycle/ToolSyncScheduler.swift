import Foundation
import Logging
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
    /// How often each server is synced; a reload may change it (``reconfigure(interval:)``).
    var interval: Duration { liveInterval.value }
    private let liveInterval: LiveValue<Duration>
    let syncer: ToolSyncer
    let store: ServerStore
    let logger: Logger
    private let wake = WakeSignal()
    private let requested = Mutex<Set<UUID>>([])

    public init(interval: Duration, syncer: ToolSyncer, store: ServerStore, logger: Logger) {
        liveInterval = LiveValue(interval)
        self.syncer = syncer
        self.store = store
        self.logger = logger
    }

    /// Syncs `server` soon, in this daemon (its tools changed, or its session reconnected).
    public func requestSync(_ server: ServerDescriptor) {
        requested.withLock { _ = $0.insert(server.id) }
        wake.signal()
    }

    /// Applies a reloaded `tool_sync_interval_seconds`: each server's next sync is scheduled
    /// with it (the one already due keeps its time).
    public func reconfigure(interval: Duration) {
        liveInterval.value = interval
        wake.signal()
    }

    /// Looks at the database now (a server row changed).
    public func wakeUp() {
        wake.signal()
    }

    public func run() async throws {
        let loop = DueWorkLoop(
            work: "tool syncs", logger: logger, wake: wake,
            claim: { try await self.claim() },
            untilNextDue: { [store, liveInterval] in try await store.timeUntilDue(within: liveInterval.value).sync },
            perform: { server in _ = try? await self.syncer.sync(server) })
        try? await cancelWhenGracefulShutdown { await loop.run() }
    }

    /// The servers this daemon was asked to sync, and those due by schedule or by request.
    private func claim() async throws -> [ServerDescriptor] {
        let ids = requested.withLock { requested in
            defer { requested = [] }
            return requested
        }
        // Requests name a server; its row is read now, so a request made before the server was
        // reconfigured or deactivated cannot bring the old one back.
        var servers: [UUID: ServerDescriptor] = [:]
        do {
            for id in ids {
                if let server = try await store.server(id: id), server.isActive { servers[id] = server }
            }
            for server in try await store.claimDueSyncs(limit: 16, interval: interval) { servers[server.id] = server }
        } catch {
            requested.withLock { $0.formUnion(ids) }  // asked for, not done: keep the requests
            throw error
        }
        return Array(servers.values)
    }
}
