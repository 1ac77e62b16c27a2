import Foundation
import Testing

@testable import AstraMCP

/// Which progress reports are written when: the latest per execution, at most once per interval.
@Suite("Progress throttle")
struct ProgressThrottleTests {
    let t0 = ContinuousClock.now
    func at(_ offset: Duration) -> ContinuousClock.Instant { t0.advanced(by: offset) }
    let a = UUID()
    let b = UUID()
    func report(_ execution: UUID, _ progress: Double) -> ProgressReport {
        ProgressReport(execution: execution, progress: progress, total: 10, message: nil)
    }

    @Test("the first report is due at once; later ones wait out the interval, and only the latest is written")
    func throttles() {
        var throttle = ProgressThrottle<ContinuousClock.Instant>(interval: .seconds(1))
        let first = throttle.report(report(a, 1), now: t0)
        #expect(first)
        let written = throttle.takeDue(now: t0).due
        #expect(written == [report(a, 1)])
        let second = throttle.report(report(a, 2), now: at(.milliseconds(100)))
        let third = throttle.report(report(a, 3), now: at(.milliseconds(200)))
        #expect(second, "the writer planned no look: it must learn when this one falls due")
        #expect(!third, "it already looks then")
        let early = throttle.takeDue(now: at(.milliseconds(500)))
        #expect(early.due.isEmpty)
        #expect(early.next == at(.seconds(1)))
        let later = throttle.takeDue(now: at(.seconds(1))).due
        #expect(later == [report(a, 3)], "coalesced: the latest only")
    }

    @Test("executions are throttled each on its own, and due ones are written together")
    func perExecution() {
        var throttle = ProgressThrottle<ContinuousClock.Instant>(interval: .seconds(1))
        _ = throttle.report(report(a, 1), now: t0)
        _ = throttle.takeDue(now: t0)
        let bDue = throttle.report(report(b, 1), now: at(.milliseconds(10)))
        #expect(bDue, "b has never been written")
        _ = throttle.report(report(a, 2), now: at(.milliseconds(10)))
        let due0 = throttle.takeDue(now: at(.milliseconds(10))).due
        #expect(due0 == [report(b, 1)])
        _ = throttle.report(report(b, 2), now: at(.milliseconds(900)))
        let due = throttle.takeDue(now: at(.milliseconds(1010))).due
        #expect(Set(due.map(\.execution)) == [a, b])
    }

    @Test("an entry lives only while a report waits or the throttle applies; forget drops a waiting report")
    func boundedMemory() {
        var throttle = ProgressThrottle<ContinuousClock.Instant>(interval: .seconds(1))
        _ = throttle.report(report(a, 1), now: t0)
        _ = throttle.takeDue(now: t0)
        #expect(throttle.count == 1)
        _ = throttle.takeDue(now: at(.seconds(2)))
        #expect(throttle.count == 0, "nothing waits and the interval is over")
        _ = throttle.report(report(b, 1), now: at(.seconds(2)))
        throttle.forget(b)
        let none = throttle.takeDue(now: at(.seconds(3))).due
        #expect(none.isEmpty)
        #expect(throttle.count == 0)
    }

    @Test("an interval of zero writes every report")
    func unthrottled() {
        var throttle = ProgressThrottle<ContinuousClock.Instant>(interval: .zero)
        for step in 1...3 {
            let due = throttle.report(report(a, Double(step)), now: t0)
            #expect(due)
            let written = throttle.takeDue(now: t0).due
            #expect(written == [report(a, Double(step))])
        }
    }

    @Test("a throttled report wakes a writer that planned no look, so the last report of a burst is written when its throttle ends")
    func lastReportOfABurst() {
        var throttle = ProgressThrottle<ContinuousClock.Instant>(interval: .seconds(1))
        _ = throttle.report(report(a, 1), now: t0)
        let first = throttle.takeDue(now: t0)
        #expect(first.next == nil, "nothing waits: the writer sleeps until woken")
        let wake = throttle.report(report(a, 5), now: at(.milliseconds(300)))
        #expect(wake, "the writer must learn when this one falls due")
        let early = throttle.takeDue(now: at(.milliseconds(300)))
        #expect(early.due.isEmpty)
        #expect(early.next == at(.seconds(1)))
        let again = throttle.report(report(a, 6), now: at(.milliseconds(500)))
        #expect(!again, "the writer already looks at 1 s")
        let last = throttle.takeDue(now: at(.seconds(1))).due
        #expect(last == [report(a, 6)])
    }
}
