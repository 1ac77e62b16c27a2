import Foundation
import Synchronization

/// Calls in flight per server, for `max_in_flight_per_server`: claims skip the executions of a
/// server at its cap, so one slow server cannot take every slot of the daemon.
final class ServerCaps: Sendable {
    /// The cap; a reload may change it.
    var maxInFlightPerServer: Int {
        get { cap.load(ordering: .relaxed) }
        set { cap.store(newValue, ordering: .relaxed) }
    }
    private let cap: Atomic<Int>
    private let counts = Mutex<[UUID: Int]>([:])

    init(maxInFlightPerServer: Int) {
        cap = Atomic(maxInFlightPerServer)
    }

    /// Counts claimed executions in.
    func claimed(_ executions: [ClaimedExecution]) {
        counts.withLock { counts in
            for execution in executions { counts[execution.server.id, default: 0] += 1 }
        }
    }

    /// Counts one call out. Returns whether its server was at its cap (claims skipped it, so
    /// the claim loop should look again).
    func finished(serverID: UUID) -> Bool {
        counts.withLock { counts in
            let before = counts[serverID, default: 1]
            counts[serverID] = before > 1 ? before - 1 : nil
            return before >= maxInFlightPerServer
        }
    }

    /// The servers at their cap now.
    var saturated: [UUID] {
        counts.withLock { counts in counts.compactMap { $0.value >= maxInFlightPerServer ? $0.key : nil } }
    }
}
