import Synchronization

/// The operation did not finish within its limit and was left behind.
struct OperationAbandoned: Error, CustomStringConvertible {
    var limit: Duration
    var description: String { "no answer within \(limit); gave up waiting" }
}

/// Runs `operation`, but stops waiting for it after `limit`, throwing ``OperationAbandoned``.
///
/// For calls that cannot be cancelled and may never return: PostgresNIO cannot cancel a
/// query in flight, and a request queued on a pool whose server just restarted has been seen
/// to wait for ever. The operation is left to finish on its own; the caller must be able to
/// repeat it (every store write is fenced, so a late duplicate changes nothing).
func abandoning<T: Sendable>(after limit: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let once = ResumeOnce<T>()
    // Cancellation is honoured at once: the caller gets CancellationError (a daemon shutting
    // down must not wait out the limit), and the operation's task is cancelled too.
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            guard once.set(continuation) else {
                continuation.resume(throwing: CancellationError())
                return
            }
            let timer = Task {
                try? await Task.sleep(for: limit)
                guard !Task.isCancelled, let pending = once.take() else { return }
                pending.resume(throwing: OperationAbandoned(limit: limit))
            }
            let work = Task {
                let result = await Result { try await operation() }
                timer.cancel()  // no sleeper outlives its operation
                once.take()?.resume(with: result)
            }
            once.attach([timer, work])
        }
    } onCancel: {
        once.cancel()
    }
}

/// A continuation resumed by whichever side takes it first: the operation, the timer, or
/// the caller's cancellation.
private final class ResumeOnce<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var tasks: [Task<Void, Never>] = []
        var cancelled = false
    }
    private let state = Mutex(State())

    /// Keeps the continuation; false when the caller was cancelled already.
    func set(_ value: CheckedContinuation<T, any Error>) -> Bool {
        state.withLock { state in
            guard !state.cancelled else { return false }
            state.continuation = value
            return true
        }
    }

    /// The tasks to cancel with the caller.
    func attach(_ tasks: [Task<Void, Never>]) {
        let cancelNow = state.withLock { state in
            if !state.cancelled { state.tasks = tasks }
            return state.cancelled
        }
        if cancelNow { for task in tasks { task.cancel() } }
    }

    func take() -> CheckedContinuation<T, any Error>? {
        state.withLock { state in
            defer { state.continuation = nil }
            return state.continuation
        }
    }

    func cancel() {
        let (continuation, tasks) = state.withLock { state in
            state.cancelled = true
            defer {
                state.continuation = nil
                state.tasks = []
            }
            return (state.continuation, state.tasks)
        }
        continuation?.resume(throwing: CancellationError())
        for task in tasks { task.cancel() }
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
