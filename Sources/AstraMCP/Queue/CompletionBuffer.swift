import Foundation
import Synchronization

/// What happened to a claimed execution: an outcome to write, a retry to schedule, or a
/// hand-back to the queue.
enum Completion: Sendable {
    case finished(ExecutionOutcome)
    case retry(RetryRequest)
    case release(ReleaseRequest)

    /// The claim it ends.
    var lease: HeldLease {
        switch self {
        case .finished(let outcome): HeldLease(execution: outcome.id, token: outcome.leaseToken)
        case .retry(let retry): HeldLease(execution: retry.id, token: retry.leaseToken)
        case .release(let release): HeldLease(execution: release.id, token: release.leaseToken)
        }
    }

    var id: UUID {
        switch self {
        case .finished(let outcome): outcome.id
        case .retry(let retry): retry.id
        case .release(let release): release.id
        }
    }

    /// Roughly what the completion weighs in a batch write: batches are bounded in bytes too.
    var approximateBytes: Int {
        switch self {
        case .finished(let outcome): 128 + (outcome.outputJSON?.utf8.count ?? 0) + (outcome.errorMessage?.utf8.count ?? 0)
        case .retry(let retry): 128 + retry.error.utf8.count
        case .release: 64
        }
    }
}

/// An execution handed back to the queue unfinished (the daemon is stopping).
struct ReleaseRequest: Sendable {
    var id: UUID
    /// The claim being handed back (the fence).
    var leaseToken: UUID
    /// False when the call never reached the server: the attempt is given back.
    var countsAsAttempt: Bool
}

/// An execution to run again later.
struct RetryRequest: Sendable {
    var id: UUID
    /// The claim that ends here (the fence).
    var leaseToken: UUID
    var after: Duration
    /// Why this attempt did not finish it.
    var error: String
    /// False for a wait that is not an attempt (an open circuit).
    var countsAsAttempt: Bool
}

/// Collects completions from many execution tasks for one writer that flushes them in batches:
/// while one batch is being written, the next accumulates. Bounded by the worker's slots,
/// since a slot is only returned once its completion is written.
final class CompletionBuffer: Sendable {
    private struct State {
        var items: [Completion] = []
        var waiter: CheckedContinuation<[Completion]?, Never>?
        /// The writer lingering until this many items are here (see ``waitForItems(_:atMost:)``).
        var lingerTarget: Int?
        var finished = false
        var maxBatch: Int
        var maxBatchBytes: Int
    }
    private let state: Mutex<State>

    /// - Parameters:
    ///   - maxBatch: The most completions in one batch.
    ///   - maxBatchBytes: The most bytes of results and messages in one batch (a single larger
    ///     completion still goes alone).
    init(maxBatch: Int, maxBatchBytes: Int = 8 << 20) {
        state = Mutex(State(maxBatch: maxBatch, maxBatchBytes: maxBatchBytes))
    }

    /// Signalled when the lingering writer's target is reached.
    private let lingerReached = WakeSignal()

    func submit(_ completion: Completion) {
        var wakeLinger = false
        let resume: (CheckedContinuation<[Completion]?, Never>, [Completion])? = state.withLock { state in
            state.items.append(completion)
            if let target = state.lingerTarget, state.items.count >= target {
                state.lingerTarget = nil
                wakeLinger = true
            }
            guard let waiter = state.waiter else { return nil }
            state.waiter = nil
            return (waiter, takeBatch(&state))
        }
        resume?.0.resume(returning: resume?.1)
        if wakeLinger { lingerReached.signal() }
    }

    /// Waits until `count` items are here (or the buffer is finished), at most `limit`: the
    /// writer's linger, which ends as soon as its batch is full rather than after a fixed time.
    func waitForItems(_ count: Int, atMost limit: Duration) async {
        let already = state.withLock { state in
            if state.items.count >= count || state.finished { return true }
            state.lingerTarget = count
            return false
        }
        guard !already else { return }
        await lingerReached.wait(timeout: limit)
        state.withLock { $0.lingerTarget = nil }
    }

    /// The next batch (at most `maxBatch`), waiting for one; nil once finished and drained.
    func nextBatch() async -> [Completion]? {
        await withCheckedContinuation { (continuation: CheckedContinuation<[Completion]?, Never>) in
            let ready: [Completion]?? = state.withLock { state in
                if !state.items.isEmpty { return .some(takeBatch(&state)) }
                if state.finished { return .some(nil) }
                state.waiter = continuation
                return .none
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Whatever has accumulated, up to `maxBatch` (possibly nothing), without waiting.
    func takeAvailable(max: Int, bytes: Int) -> [Completion] {
        state.withLock { state in
            let count = Self.prefixCount(state.items, max: min(max, state.items.count), bytes: bytes, atLeastOne: false)
            defer { state.items.removeFirst(count) }
            return Array(state.items.prefix(count))
        }
    }

    /// No more completions will come; the writer ends after draining.
    func finish() {
        lingerReached.signal()
        let waiter = state.withLock { state in
            state.finished = true
            guard state.items.isEmpty else { return nil as CheckedContinuation<[Completion]?, Never>? }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    private func takeBatch(_ state: inout State) -> [Completion] {
        let count = Self.prefixCount(state.items, max: min(state.maxBatch, state.items.count), bytes: state.maxBatchBytes, atLeastOne: true)
        if count == state.items.count {
            defer { state.items = [] }
            return state.items
        }
        let batch = Array(state.items.prefix(count))
        state.items.removeFirst(count)
        return batch
    }

    /// How many of the first `max` items fit in `bytes`.
    private static func prefixCount(_ items: [Completion], max: Int, bytes: Int, atLeastOne: Bool) -> Int {
        var total = 0
        for index in 0..<max {
            total += items[index].approximateBytes
            if total > bytes { return index == 0 && atLeastOne ? 1 : index }
        }
        return max
    }

    /// The byte bound of one batch.
    var maxBatchBytes: Int { state.withLock { $0.maxBatchBytes } }
}
