import Synchronization

/// Decides when the worker claims: only when there is a reason to look (a notification, the
/// backstop timer, or a backlog left by a full claim) and a free concurrency slot to fill.
///
/// No polling: the claim loop sleeps on a continuation until both hold.
final class DispatchGate: Sendable {
    private struct State {
        var capacity: Int
        /// Below zero after the capacity shrank under more calls than it now allows.
        var freeSlots: Int
        var workSignalled = true  // look once at start: work may have been queued while we were down
        var backlog = false
        var closed = false
        var waiter: CheckedContinuation<Int?, Never>?
    }
    private let state: Mutex<State>
    /// While working off a backlog, claim only once this many slots are free: one round trip
    /// then fills many slots, instead of one per finished call.
    let backlogClaimThreshold: Int

    init(capacity: Int, backlogClaimThreshold: Int = 1) {
        self.backlogClaimThreshold = max(1, min(backlogClaimThreshold, capacity))
        state = Mutex(State(capacity: capacity, freeSlots: capacity))
    }

    /// Something may be claimable (a NOTIFY arrived, or the backstop fired).
    func signalWork() {
        let waiter = state.withLock { state in
            state.workSignalled = true
            return takeWaiterIfReady(&state)
        }
        waiter?.0.resume(returning: waiter?.1)
    }

    /// Waits until there is reason to claim and a free slot; returns the number of free slots,
    /// or nil once closed.
    func waitForWork() async -> Int? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Int?, Never>) in
            let ready: Int?? = state.withLock { state in
                if state.closed { return .some(nil) }
                if isReady(state) {
                    state.workSignalled = false
                    return .some(state.freeSlots)
                }
                state.waiter = continuation
                return .none
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Takes `count` slots for claimed executions; `full` says the claim got all it asked for,
    /// so more may be waiting.
    func claimed(_ count: Int, full: Bool) {
        state.withLock { state in
            state.freeSlots -= count
            state.backlog = full
        }
    }

    /// Returns `count` slots; wakes the claim loop when a backlog is waiting for them.
    func release(_ count: Int) {
        let waiter = state.withLock { state in
            state.freeSlots += count
            return takeWaiterIfReady(&state)
        }
        waiter?.0.resume(returning: waiter?.1)
    }

    /// The number of executions in flight.
    var inFlight: Int { state.withLock { $0.capacity - $0.freeSlots } }

    /// The most executions in flight at once.
    var capacity: Int { state.withLock { $0.capacity } }

    /// Changes the most executions in flight (a reload). Calls beyond a smaller capacity finish;
    /// no claim is made until the number in flight is below it.
    func resize(to capacity: Int) {
        let waiter = state.withLock { state in
            state.freeSlots += capacity - state.capacity
            state.capacity = capacity
            return takeWaiterIfReady(&state)
        }
        waiter?.0.resume(returning: waiter?.1)
    }

    /// Whether ``close()`` was called.
    var isClosed: Bool { state.withLock { $0.closed } }

    /// Stops the claim loop.
    func close() {
        let waiter = state.withLock { state in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// A notification (or the backstop) claims into any free slot, so an idle daemon picks up at
    /// once; a backlog waits for enough free slots to make the claim worth its round trip.
    private func isReady(_ state: State) -> Bool {
        (state.workSignalled && state.freeSlots > 0) || (state.backlog && state.freeSlots >= min(backlogClaimThreshold, state.capacity))
    }

    private func takeWaiterIfReady(_ state: inout State) -> (CheckedContinuation<Int?, Never>, Int)? {
        guard let waiter = state.waiter, isReady(state) else { return nil }
        state.waiter = nil
        state.workSignalled = false
        return (waiter, state.freeSlots)
    }
}
