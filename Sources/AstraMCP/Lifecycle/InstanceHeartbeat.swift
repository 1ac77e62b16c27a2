import Foundation
import Logging
import ServiceLifecycle

/// Keeps this process's row in `mcp_daemon_instances` fresh (every `interval`: its load and its
/// sessions), and removes it on a clean stop, so `astra-mcpd status` shows the live fleet; and
/// keeps systemd's status line (`systemctl status astra-mcpd`) current with what it learns:
/// `STATUS=3 in flight, 1250 done in the last minute, 12 ready in the queue, 4 sessions to 3
/// servers, 1 failing, 0 circuits open`.
public struct InstanceHeartbeat: Service {
    let store: StatusStore
    let instanceID: String
    let interval: Duration
    let inFlight: @Sendable () -> Int
    let sessions: @Sendable () -> [UUID: Int]
    /// Executions this process has finished since it started.
    let completed: @Sendable () -> Int
    let logger: Logger
    /// Where what it learns is shown too (queue depth, load, sessions per server).
    let metrics: EngineMetrics

    public init(
        store: StatusStore, instanceID: String, interval: Duration = .seconds(5), inFlight: @escaping @Sendable () -> Int,
        sessions: @escaping @Sendable () -> [UUID: Int], completed: @escaping @Sendable () -> Int = { 0 }, logger: Logger,
        metrics: EngineMetrics = .disabled
    ) {
        self.metrics = metrics
        self.store = store
        self.instanceID = instanceID
        self.interval = interval
        self.inFlight = inFlight
        self.sessions = sessions
        self.completed = completed
        self.logger = logger
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var failing = false
            var minute = CompletionsPerMinute()
            while !Task.isCancelled {
                let (load, live) = (inFlight(), sessions())
                minute.record(completed(), at: .now)
                do {
                    let fleet = try await store.heartbeat(instanceID: instanceID, inFlight: load, sessions: live)
                    Systemd.notify("STATUS=" + Self.statusLine(inFlight: load, doneLastMinute: minute.lastMinute, sessions: live, fleet: fleet))
                    metrics.heartbeat(readyExecutions: fleet.readyExecutions, inFlight: load, sessions: live)
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

extension InstanceHeartbeat {
    /// systemd's one status line.
    static func statusLine(inFlight: Int, doneLastMinute: Int, sessions: [UUID: Int], fleet: FleetGlance) -> String {
        "\(inFlight) in flight, \(doneLastMinute) done in the last minute, \(fleet.readyExecutions) ready in the queue, "
            + "\(sessions.values.reduce(0, +)) sessions to \(sessions.count) servers, \(fleet.failingServers) failing, "
            + "\(fleet.openCircuits) circuits open"
    }
}

/// Completions in the last minute, from samples of a running total: a value type fed by the
/// heartbeat, bounded to a minute of samples.
struct CompletionsPerMinute {
    private var samples: [(at: ContinuousClock.Instant, total: Int)] = []

    mutating func record(_ total: Int, at now: ContinuousClock.Instant) {
        samples.append((now, total))
        // Keep the newest sample at least a minute old, as the baseline.
        while samples.count > 2, now - samples[1].at >= .seconds(60) { samples.removeFirst() }
    }

    var lastMinute: Int {
        guard let first = samples.first, let last = samples.last else { return 0 }
        return last.total - first.total
    }
}
