import Foundation
import Logging
import ServiceLifecycle

/// Brings changes to `mcp_servers` to the session pool within moments: a trigger notifies
/// `astra_mcpd_servers` with the id of every inserted, deleted or reconfigured row, and the
/// watcher stops sessions whose server was deactivated, deleted or given a new config (the next
/// call starts a fresh one). A periodic reconcile is the backstop for lost notifications.
public struct ServerWatcher: Service {
    let store: ServerStore
    let pool: SessionPool
    let syncScheduler: ToolSyncScheduler?
    let healthMonitor: HealthMonitor?
    /// How often the pool is reconciled; a reload may change it (``reconfigure(reconcileInterval:)``).
    var reconcileInterval: Duration { liveReconcileInterval.value }
    private let liveReconcileInterval: LiveValue<Duration>
    private let reconcileWake = WakeSignal()
    let eagerConnect: Bool
    let logger: Logger
    private let changes: AsyncStream<String?>
    private let changesContinuation: AsyncStream<String?>.Continuation

    public init(
        store: ServerStore, pool: SessionPool, syncScheduler: ToolSyncScheduler?, healthMonitor: HealthMonitor?,
        reconcileInterval: Duration, eagerConnect: Bool, logger: Logger
    ) {
        self.store = store
        self.pool = pool
        self.syncScheduler = syncScheduler
        self.healthMonitor = healthMonitor
        liveReconcileInterval = LiveValue(reconcileInterval)
        self.eagerConnect = eagerConnect
        self.logger = logger
        (changes, changesContinuation) = AsyncStream.makeStream()
    }

    /// The ``ChannelListener`` handler of ``ChannelListener/serverChanges``: a server's id, or
    /// nil to reconcile every server.
    /// The payload prefix of a credential change (see migrations/0006).
    static let credentialsPrefix = "credentials:"

    /// Applies a reloaded `reconcile_interval_seconds`.
    public func reconfigure(reconcileInterval: Duration) {
        liveReconcileInterval.value = reconcileInterval
        reconcileWake.signal()
    }

    public func serverChanged(_ payload: String?) {
        changesContinuation.yield(payload)
    }

    public func run() async throws {
        // Cancelled on graceful shutdown, so a read in progress does not hold up the others.
        try? await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    while !Task.isCancelled {
                        // A reload wakes this to start the new interval now.
                        if await reconcileWake.wait(timeout: reconcileInterval) { continue }
                        changesContinuation.yield(nil)
                    }
                }
                for await change in changes {
                    if let change, change.hasPrefix(Self.credentialsPrefix),
                        let id = UUID(uuidString: String(change.dropFirst(Self.credentialsPrefix.count)))
                    {
                        // Whichever daemon stored it: the sessions still send the old secret.
                        logger.info("server credential changed; replacing its sessions", metadata: ["server_id": "\(id)"])
                        pool.retire(serverID: id, reason: "its credential changed", draining: true)
                    } else if let change, let id = UUID(uuidString: change) {
                        await refresh(id, group: &group)
                    } else {
                        await reconcile(group: &group)
                    }
                }
                group.cancelAll()
            }
        }
    }

    private func refresh(_ id: UUID, group: inout DiscardingTaskGroup) async {
        logger.debug("server row changed", metadata: ["server_id": "\(id)"])
        do {
            let server = try await store.server(id: id)
            guard let server, server.isActive else {
                pool.retire(serverID: id, reason: server == nil ? "server deleted" : "server deactivated", deactivated: true)
                return
            }
            pool.reconcile(only: server)
            syncScheduler?.wakeUp()
            healthMonitor?.wakeUp()
            if eagerConnect { group.addTask { _ = try? await pool.session(for: server) } }
        } catch is CancellationError {
            return
        } catch {
            logger.error("could not read a changed server", metadata: ["server_id": "\(id)", "error": "\(String(reflecting: error))"])
        }
    }

    private func reconcile(group: inout DiscardingTaskGroup) async {
        do {
            let readAt = ContinuousClock.now
            let active = try await store.activeServers()
            pool.reconcile(active: active, readAt: readAt)
            if eagerConnect {
                let open = Set(pool.serverIDs)
                for server in active where !open.contains(server.id) {
                    // Read the row again: the list may predate a change, and starting the old
                    // config would undo it.
                    group.addTask {
                        guard let fresh = try? await store.server(id: server.id),
                            fresh.isActive
                        else { return }
                        _ = try? await pool.session(for: fresh)
                    }
                }
            }
        } catch is CancellationError {
            return
        } catch {
            logger.error("could not reconcile the session pool", metadata: ["error": "\(String(reflecting: error))"])
        }
    }
}
