import Foundation
import Logging
import Synchronization

/// Persists the progress that running calls report (`notifications/progress`), so a backend
/// can show a live bar: each execution's latest report is written to its row at most once per
/// `interval` (``ProgressThrottle``), and every batch is one statement that also announces the
/// ids on `astra_mcpd_progress`. Reports of many executions that fall due together, or arrive
/// while a write is under way, share one statement.
///
/// Progress is a view, not an outcome: a write that fails is logged and dropped, and the next
/// report tries again.
public final class ProgressWriter: Sendable {
    /// The longest `progress_message` stored; a longer one is cut.
    static let maxMessageCharacters = 1000

    let store: QueueStore
    let logger: Logger
    private let throttle: Mutex<ProgressThrottle<ContinuousClock.Instant>>
    private let wake = WakeSignal()
    private let writes = Atomic<Int>(0)

    /// - Parameter interval: The least time between two writes of one execution's progress.
    public init(store: QueueStore, interval: Duration, logger: Logger) {
        self.store = store
        self.logger = logger
        throttle = Mutex(ProgressThrottle(interval: interval))
    }

    /// Takes a report from a session's reader (it must return at once). `token` is the call's
    /// progress token: the execution id.
    public func report(token: String, progress: Double, total: Double?, message: String?) {
        guard let execution = UUID(uuidString: token), progress.isFinite else { return }
        let report = ProgressReport(
            execution: execution, progress: progress, total: total.flatMap { $0.isFinite ? $0 : nil },
            message: message.map { String($0.prefix(Self.maxMessageCharacters)) })
        if throttle.withLock({ $0.report(report, now: .now) }) { wake.signal() }
    }

    /// Applies a reloaded `progress_interval_seconds`.
    public func reconfigure(interval: Duration) {
        throttle.withLock { $0.interval = interval }
    }

    /// The execution's call ended.
    func forget(_ execution: UUID) {
        throttle.withLock { $0.forget(execution) }
    }

    /// Progress statements sent so far.
    var writeCount: Int { writes.load(ordering: .relaxed) }

    /// Writes due reports until cancelled, asleep until the next one falls due.
    func run() async {
        while !Task.isCancelled {
            let (due, next) = throttle.withLock { $0.takeDue(now: .now) }
            if !due.isEmpty {
                do {
                    try await store.recordProgress(due)
                    writes.add(1, ordering: .relaxed)
                } catch {
                    logger.warning("could not store progress", metadata: ["error": "\(String(reflecting: error))", "executions": "\(due.count)"])
                }
                continue  // what arrived meanwhile may be due
            }
            await wake.wait(timeout: next.map { ContinuousClock.now.duration(to: $0) } ?? .seconds(3600))
        }
    }
}
