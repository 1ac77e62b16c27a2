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
    return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        once.set(continuation)
        let timer = Task {
            try? await Task.sleep(for: limit)
            guard !Task.isCancelled, let pending = once.take() else { return }
            pending.resume(throwing: OperationAbandoned(limit: limit))
        }
        Task {
            let result = await Result { try await operation() }
            timer.cancel()  // no sleeper outlives its operation
            once.take()?.resume(with: result)
        }
    }
}

/// A continuation resumed by whichever side takes it first.
private final class ResumeOnce<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<T, any Error>?>(nil)

    func set(_ value: CheckedContinuation<T, any Error>) { continuation.withLock { $0 = value } }

    func take() -> CheckedContinuation<T, any Error>? {
        continuation.withLock { pending in
            defer { pending = nil }
            return pending
        }
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
