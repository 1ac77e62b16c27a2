import Testing

@testable import AstraMCP

@Suite("Abandoning a call that never answers", .timeLimit(.minutes(1)))
struct AbandoningTests {
    @Test("the caller's cancellation ends the wait at once, and reaches the operation")
    func cancellation() async {
        let started = AsyncEvent()
        let operationCancelled = AsyncEvent()
        let caller = Task {
            try await abandoning(after: .seconds(3600)) {
                started.signal()
                // Never answers unless cancelled.
                do { try await Task.sleep(for: .seconds(3600)) } catch { operationCancelled.signal() }
                return 1
            }
        }
        await started.wait()
        caller.cancel()
        await #expect(throws: CancellationError.self) { try await caller.value }
        await operationCancelled.wait()
    }

    @Test("an answer within the limit is returned; none within it is given up on")
    func answerOrLimit() async throws {
        #expect(try await abandoning(after: .seconds(3600)) { 7 } == 7)
        await #expect(throws: OperationAbandoned.self) {
            try await abandoning(after: .milliseconds(1)) { await AsyncEvent().wait(); return 0 }
        }
    }
}
