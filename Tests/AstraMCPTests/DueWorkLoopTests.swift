import Foundation
import Logging
import Synchronization
import Testing

@testable import AstraMCP

@Suite("Due-work loop")
struct DueWorkLoopTests {
    static func server(_ name: String) -> ServerDescriptor {
        ServerDescriptor(id: UUID(), name: name, serverType: "stdio", isActive: true, configJSON: "{}")
    }

    @Test("works through what is due, sleeps when nothing is until woken, and carries on after a failed claim")
    func loop() async throws {
        let (a, b) = (Self.server("a"), Self.server("b"))
        // What each claim returns, in turn; a nil entry is a failed claim.
        let claims = Mutex<[[ServerDescriptor]?]>([[a], [], nil, [b]])
        let (events, sink) = AsyncStream<String>.makeStream()
        let wake = WakeSignal()
        let loop = DueWorkLoop(
            work: "checks", logger: Logger(label: "test"), wake: wake,
            claim: {
                let next = claims.withLock { $0.isEmpty ? [] : $0.removeFirst() }
                guard let next else { throw TestFailure() }
                return next
            },
            untilNextDue: {
                sink.yield("waiting")
                return .seconds(3600)
            },
            perform: { server in sink.yield("performed \(server.name)") })
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await loop.run() }
            var seen = events.makeAsyncIterator()
            #expect(await seen.next() == "performed a")
            #expect(await seen.next() == "waiting", "nothing due: it sleeps (an hour) instead of polling")
            wake.signal()
            // The failed claim is retried after a short backoff; then b is due.
            #expect(await seen.next() == "performed b")
            #expect(await seen.next() == "waiting")
            group.cancelAll()
        }
    }

    struct TestFailure: Error {}
}
