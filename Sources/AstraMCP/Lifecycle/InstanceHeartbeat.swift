import Foundation
import Logging
import ServiceLifecycle

/// Keeps this process's row in `mcp_daemon_instances` fresh (every `interval`: its load and its
/// sessions), and removes it on a clean stop, so `astra-mcpd status` shows the live fleet.
public struct InstanceHeartbeat: Service {
    let store: StatusStore
    let instanceID: String
    let interval: Duration
    let inFlight: @Sendable () -> Int
    let sessions: @Sendable () -> [UUID: Int]
    let logger: Logger

    public init(
        store: StatusStore, instanceID: String, interval: Duration = .seconds(5), inFlight: @escaping @Sendable () -> Int,
        sessions: @escaping @Sendable () -> [UUID: Int], logger: Logger
    ) {
        self.store = store
        self.instanceID = instanceID
        self.interval = interval
        self.inFlight = inFlight
        self.sessions = sessions
        self.logger = logger
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var failing = false
            while !Task.isCancelled {
                do {
                    try await store.heartbeat(instanceID: instanceID, inFlight: inFlight(), sessions: sessions())
                    failing = false
                } catch {
                    // Status only; the queue does not depend on it. Said once per outage.
                    if !failing { logger.warning("could not record this instance's heartbeat", metadata: ["error": "\(String(reflecting: error))"]) }
                    failing = true
                }
                try await Task.sleep(for: interval)
            }
        }
        try? await store.instanceGone(instanceID)
    }
}
