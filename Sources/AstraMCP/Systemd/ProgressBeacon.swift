import Synchronization

/// How the engine shows it is alive. Each loop says when it starts a step (``busy(_:)``, again
/// at every retry of it) and when it waits for work (``idle(_:)``: waiting is alive). The
/// watchdog pings systemd only while no loop has been in one step for longer than the watchdog
/// interval, so a daemon stuck mid-step is restarted instead of looking healthy.
public final class ProgressBeacon: Sendable {
    private let busySince = Mutex<[String: ContinuousClock.Instant]>([:])

    public init() {}

    /// `loop` starts a step, or tries it again (a retry is progress: the database may be away).
    func busy(_ loop: String, now: ContinuousClock.Instant = .now) {
        busySince.withLock { $0[loop] = now }
    }

    /// `loop` waits for work.
    func idle(_ loop: String) {
        busySince.withLock { _ = $0.removeValue(forKey: loop) }
    }

    /// The loops in one step for longer than `limit`, with how long.
    func stuck(longerThan limit: Duration, now: ContinuousClock.Instant = .now) -> [(loop: String, for: Duration)] {
        busySince.withLock { busy in
            busy.compactMap { loop, since in now - since > limit ? (loop, now - since) : nil }.sorted { $0.loop < $1.loop }
        }
    }
}
