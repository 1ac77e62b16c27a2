import Foundation
import Synchronization

/// What happened to a claimed execution: an outcome to write, a retry to schedule, or a
/// hand-back to the queue.
enum Completion: Sendable {
    case finished(ExecutionOutcome)
    case retry(RetryRequest)
    case release(UUID)
}

/// An execution to run again later.
struct RetryRequest: Sendable {
    var id: UUID
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
        var finished = false
        var maxBatch: Int
    }
    private let state: Mutex<State>

    init(maxBatch: Int) {
        state = Mutex(State(maxBatch: maxBatch))
    }

    func submit(_ completion: Completion) {
        let resume: (CheckedContinuation<[Completion]?, Never>, [Completion])? = state.withLock { state in
            state.items.append(completion)
            guard let waiter = state.waiter else { return nil }
            state.waiter = nil
            return (waiter, takeBatch(&state))
        }
        resume?.0.resume(returning: resume?.1)
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
    func takeAvailable(max: Int) -> [Completion] {
        state.withLock { state in
            let count = min(max, state.items.count)
            defer { state.items.removeFirst(count) }
            return Array(state.items.prefix(count))
        }
    }

    /// No more completions will come; the writer ends after draining.
    func finish() {
        let waiter = state.withLock { state in
            state.finished = true
            guard state.items.isEmpty else { return nil as CheckedContinuation<[Completion]?, Never>? }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    private func takeBatch(_ state: inout State) -> [Completion] {
        if state.items.count <= state.maxBatch {
            defer { state.items = [] }
            return state.items
        }
        let batch = Array(state.items.prefix(state.maxBatch))
        state.items.removeFirst(state.maxBatch)
        return batch
    }
}
