import Synchronization
import Testing

@testable import AstraMCP

@Suite("DispatchGate", .timeLimit(.minutes(1)))
struct DispatchGateTests {
    /// Starts `waitForWork()` in a task and reports whether it is still waiting after a moment.
    private func startWaiting(_ gate: DispatchGate) async -> (Task<Int?, Never>, stillWaiting: Bool) {
        let returned = Atomic<Bool>(false)
        let task = Task {
            let result = await gate.waitForWork()
            returned.store(true, ordering: .sequentiallyConsistent)
            return result
        }
        try? await Task.sleep(for: .milliseconds(100))
        return (task, !returned.load(ordering: .sequentiallyConsistent))
    }

    @Test("the first wait returns at once with every slot: work may have queued while we were down")
    func looksOnceAtStart() async {
        let gate = DispatchGate(capacity: 8)
        #expect(await gate.waitForWork() == 8)
    }

    @Test("after that it waits until signalled")
    func waitsForSignal() async {
        let gate = DispatchGate(capacity: 4)
        _ = await gate.waitForWork()
        let (task, stillWaiting) = await startWaiting(gate)
        #expect(stillWaiting)
        gate.signalWork()
        #expect(await task.value == 4)
    }

    @Test("a signal while the slots are all taken waits for a release, which returns the free count")
    func waitsForFreeSlots() async {
        let gate = DispatchGate(capacity: 3)
        _ = await gate.waitForWork()
        gate.claimed(3, full: false)
        #expect(gate.inFlight == 3)
        gate.signalWork()
        let (task, stillWaiting) = await startWaiting(gate)
        #expect(stillWaiting)
        gate.release(2)
        #expect(await task.value == 2)
        #expect(gate.inFlight == 1)
    }

    @Test("a release without a reason to look does not wake the loop")
    func releaseAloneDoesNotWake() async {
        let gate = DispatchGate(capacity: 2)
        _ = await gate.waitForWork()
        gate.claimed(1, full: false)
        gate.release(1)
        let (task, stillWaiting) = await startWaiting(gate)
        #expect(stillWaiting)
        gate.close()
        #expect(await task.value == nil)
    }

    @Test("a full claim leaves a backlog: the next wait returns without a signal")
    func backlog() async {
        let gate = DispatchGate(capacity: 10)
        #expect(await gate.waitForWork() == 10)
        gate.claimed(4, full: true)
        #expect(await gate.waitForWork() == 6)
        gate.claimed(6, full: true)
        let (task, stillWaiting) = await startWaiting(gate)
        #expect(stillWaiting)
        gate.release(3)
        #expect(await task.value == 3)
    }

    @Test("close returns nil to a waiter and to every later wait")
    func close() async {
        let gate = DispatchGate(capacity: 1)
        _ = await gate.waitForWork()
        let (task, stillWaiting) = await startWaiting(gate)
        #expect(stillWaiting)
        gate.close()
        #expect(await task.value == nil)
        #expect(gate.isClosed)
        gate.signalWork()
        #expect(await gate.waitForWork() == nil)
    }

    @Test("a reload that grows the capacity frees slots at once; one that shrinks it lets the calls beyond it finish before the next claim")
    func resize() async {
        let gate = DispatchGate(capacity: 2)
        #expect(await gate.waitForWork() == 2)
        gate.claimed(2, full: false)
        gate.resize(to: 4)
        gate.signalWork()
        #expect(await gate.waitForWork() == 2)
        gate.claimed(2, full: false)
        #expect(gate.inFlight == 4)
        gate.resize(to: 2)
        #expect(gate.capacity == 2)
        #expect(gate.inFlight == 4)
        gate.release(2)
        #expect(gate.inFlight == 2)
        gate.release(1)
        gate.signalWork()
        // Only one slot is free under the new capacity, not three.
        #expect(await gate.waitForWork() == 1)
    }
}
