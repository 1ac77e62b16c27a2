import Testing

@testable import AstraMCP

@Suite("Progress beacon")
struct ProgressBeaconTests {
    @Test("a loop is stuck only while one step lasts longer than the limit; waiting and retrying are progress")
    func stuck() {
        let beacon = ProgressBeacon()
        let t0 = ContinuousClock.now
        beacon.busy("writer", now: t0)
        #expect(beacon.stuck(longerThan: .seconds(30), now: t0.advanced(by: .seconds(29))).isEmpty)
        let stuck = beacon.stuck(longerThan: .seconds(30), now: t0.advanced(by: .seconds(31)))
        #expect(stuck.map(\.loop) == ["writer"])
        #expect(stuck.first?.for == .seconds(31))
        beacon.busy("writer", now: t0.advanced(by: .seconds(31)))  // a retry
        #expect(beacon.stuck(longerThan: .seconds(30), now: t0.advanced(by: .seconds(40))).isEmpty)
        beacon.idle("writer")
        #expect(beacon.stuck(longerThan: .seconds(30), now: t0.advanced(by: .seconds(3600))).isEmpty, "waiting for work is alive")
    }
}
