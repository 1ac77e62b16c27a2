import Foundation
import Logging
import Synchronization

/// The leases a worker holds, from claim until the execution's completion is written, and the
/// heartbeat that renews exactly those: every third of a lease (a second after a failed try).
/// It keeps running while the worker drains, until its task is cancelled.
final class LeaseKeeper: Sendable {
    let store: QueueStore
    let leaseDuration: Duration
    let logger: Logger
    /// Told of held executions the backend asked to cancel, at each renewal.
    let onCancelRequested: @Sendable ([UUID]) -> Void
    private let held = Mutex<Set<HeldLease>>([])
    /// Heartbeat statements sent (each renews every lease held).
    private let renewals = Atomic<Int>(0)

    init(store: QueueStore, leaseDuration: Duration, logger: Logger, onCancelRequested: @escaping @Sendable ([UUID]) -> Void = { _ in }) {
        self.store = store
        self.onCancelRequested = onCancelRequested
        self.leaseDuration = leaseDuration
        self.logger = logger
    }

    /// Holds the leases of claimed executions.
    func hold(_ executions: [ClaimedExecution]) {
        held.withLock { held in
            for execution in executions { held.insert(HeldLease(execution: execution.id, token: execution.leaseToken)) }
        }
    }

    /// Lets go of leases whose completion is written (or given up on).
    func release<Leases: Sequence<HeldLease>>(_ leases: Leases) {
        held.withLock { held in
            for lease in leases { held.remove(lease) }
        }
    }

    /// Every lease held now.
    var leases: [HeldLease] { held.withLock { Array($0) } }

    var renewalCount: Int { renewals.load(ordering: .relaxed) }

    /// Renews the held leases until cancelled.
    func runHeartbeat() async {
        var failed = false
        while !Task.isCancelled {
            try? await Task.sleep(for: failed ? .seconds(1) : leaseDuration / 3)
            if Task.isCancelled { return }
            let leases = self.leases
            guard !leases.isEmpty else { continue }
            do {
                let cancelled = try await store.renewLeases(leaseDuration, of: leases)
                renewals.add(1, ordering: .relaxed)
                if !cancelled.isEmpty { onCancelRequested(cancelled) }
                failed = false
            } catch {
                failed = true
                logger.error("lease heartbeat failed", metadata: ["error": "\(String(reflecting: error))"])
            }
        }
    }
}
