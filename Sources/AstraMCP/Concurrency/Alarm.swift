import Synchronization

/// Fires a callback at the earliest scheduled time (the retry backstop: an execution scheduled
/// to run again in 2 s is claimed then, not at the next poll). Sleeps on a continuation while
/// nothing is scheduled; while something is, it wakes at most every `resolution`.
final class Alarm: Sendable {
    private struct State {
        var deadlines: [ContinuousClock.Instant] = []
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())
    let resolution: Duration

    init(resolution: Duration = .seconds(1)) {
        self.resolution = resolution
    }

    func schedule(at deadline: ContinuousClock.Instant) {
        let waiter = state.withLock { state in
            state.deadlines.append(deadline)
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Calls `fire` whenever a scheduled time has come, until cancelled.
    func run(fire: @Sendable () -> Void) async {
        while !Task.isCancelled {
            let next = state.withLock { $0.deadlines.min() }
            guard let next else {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        let now = state.withLock { state in
                            if !state.deadlines.isEmpty || Task.isCancelled { return true }
                            state.waiter = continuation
                            return false
                        }
                        if now { continuation.resume() }
                    }
                } onCancel: {
                    let waiter = state.withLock { state in
                        defer { state.waiter = nil }
                        return state.waiter
                    }
                    waiter?.resume()
                }
                continue
            }
            let now = ContinuousClock.now
            if next <= now {
                state.withLock { $0.deadlines.removeAll { $0 <= now } }
                fire()
            } else {
                try? await Task.sleep(for: min(next - now, resolution))
            }
        }
    }
}
