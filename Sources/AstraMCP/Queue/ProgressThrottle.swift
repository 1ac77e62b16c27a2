import struct Foundation.UUID

/// Which progress reports to write, and when: the latest report of each running execution,
/// written at most once per `interval` per execution, so a chatty server cannot flood the
/// database. A value type driven by ``ProgressWriter`` with the time passed in.
///
/// Memory stays bounded: an execution has an entry only while a report waits, or while its
/// last write is younger than `interval` (to throttle the next one), and ``forget(_:)`` drops
/// it when its call ends.
struct ProgressThrottle<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    private struct Entry: Sendable {
        /// The newest report not yet written.
        var waiting: ProgressReport?
        /// When the last report of this execution was written.
        var lastWritten: Instant?
    }

    /// A reload may change it; it applies from the next report.
    var interval: Duration
    private var entries: [UUID: Entry] = [:]
    /// When the writer will next look, as the last ``takeDue(now:)`` said (nil: not before it
    /// is woken). A report due earlier must wake it.
    private var plannedWake: Instant?

    init(interval: Duration) {
        self.interval = interval
    }

    /// Takes a report (it replaces the one waiting). Returns whether the writer must wake: the
    /// report is due before the writer would next look (at once, or when its throttle ends).
    mutating func report(_ report: ProgressReport, now: Instant) -> Bool {
        var entry = entries[report.execution] ?? Entry()
        let alreadyWaiting = entry.waiting != nil
        entry.waiting = report
        entries[report.execution] = entry
        // A report replacing one that waits is due when that one was: the writer knows.
        if alreadyWaiting && !isDue(entry, now: now) { return false }
        let due = entry.lastWritten.map { $0.advanced(by: interval) } ?? now
        if let planned = plannedWake, planned <= due { return false }
        plannedWake = due
        return true
    }

    /// The reports due now, marked written; and when the next one falls due (nil: none waits).
    mutating func takeDue(now: Instant) -> (due: [ProgressReport], next: Instant?) {
        var due: [ProgressReport] = []
        var next: Instant?
        var idle: [UUID] = []
        for (id, entry) in entries {
            guard let waiting = entry.waiting else {
                if entry.lastWritten.map({ $0.advanced(by: interval) <= now }) ?? true { idle.append(id) }
                continue
            }
            if isDue(entry, now: now) {
                due.append(waiting)
                entries[id] = Entry(waiting: nil, lastWritten: now)
            } else if let written = entry.lastWritten {
                let at = written.advanced(by: interval)
                if next.map({ at < $0 }) ?? true { next = at }
            }
        }
        // Nothing waits and the throttle no longer applies: the entry is not needed.
        for id in idle { entries.removeValue(forKey: id) }
        plannedWake = next
        return (due, next)
    }

    /// The execution's call ended: a report still waiting is dropped (its outcome says more).
    mutating func forget(_ execution: UUID) {
        entries.removeValue(forKey: execution)
    }

    /// How many executions have an entry.
    var count: Int { entries.count }

    private func isDue(_ entry: Entry, now: Instant) -> Bool {
        entry.lastWritten.map { $0.advanced(by: interval) <= now } ?? true
    }
}
