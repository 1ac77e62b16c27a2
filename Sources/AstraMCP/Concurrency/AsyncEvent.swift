import Synchronization

/// A one-shot event: tasks wait until it is signalled; once signalled it stays signalled.
final class AsyncEvent: Sendable {
    private struct State {
        var signalled = false
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
    }
    private let state = Mutex(State())

    init() {}

    var isSignalled: Bool { state.withLock { $0.signalled } }

    func signal() {
        let waiters = state.withLock { state in
            state.signalled = true
            defer { state.waiters = [:] }
            return state.waiters
        }
        for (_, waiter) in waiters { waiter.resume() }
    }

    /// Waits until signalled or until the calling task is cancelled.
    func wait() async {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state in
                    if state.signalled || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }

    /// Waits until signalled, at most `timeout`. Returns whether it was signalled.
    @discardableResult
    func wait(timeout: Duration) async -> Bool {
        if isSignalled { return true }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.wait()
                return self.isSignalled
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first || isSignalled
        }
    }
}
