import Synchronization

/// Fires a callback at each scheduled time (the retry backstop: an execution scheduled to run
/// again in 2 s is claimed then, not at the next poll). Sleeps until the earliest time; a new,
/// earlier one wakes it to re-plan.
final class Alarm: Sendable {
    private let deadlines = Mutex<[ContinuousClock.Instant]>([])
    private let rescheduled = WakeSignal()

    init() {}

    func schedule(at deadline: ContinuousClock.Instant) {
        deadlines.withLock { $0.append(deadline) }
        rescheduled.signal()
    }

    /// Calls `fire` whenever a scheduled time has come, until cancelled.
    func run(fire: @Sendable () -> Void) async {
        while !Task.isCancelled {
            let now = ContinuousClock.now
            let (due, next) = deadlines.withLock { deadlines in
                let due = deadlines.contains { $0 <= now }
                deadlines.removeAll { $0 <= now }
                return (due, deadlines.min())
            }
            if due { fire() }
            await rescheduled.wait(timeout: next.map { $0 - now } ?? .seconds(3600))
        }
    }
}
