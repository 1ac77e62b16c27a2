@testable import AstraMCPDemo
import Foundation
import PostgresNIO
import Testing

@testable import AstraMCP

/// PostgreSQL going away mid-run loses nothing and runs nothing twice.
@Suite("PostgreSQL restarted mid-run", .timeLimit(.minutes(3)))
struct DatabaseOutageTests {
    @Test("PostgreSQL restarted under load: every execution ends success, each call reached its tool once")
    func restartUnderLoad() async throws {
        // A cluster of this test's own: restarting the shared one would cut every other test.
        let cluster = try await EphemeralPostgres.start(logger: TestLogging.logger)
        do {
            let db = try await TestDatabase.create(migrated: true, on: cluster.url)
            try await FlakyServer.with { flaky in
                try await TestDaemon.with(db, configure: { $0.useShortLifecycleIntervals() }) { daemon in
                    let server = try await daemon.registerFlakyServer(state: flaky)
                    let unsafe = try await daemon.enqueueMany("unsafe_write", on: server, count: 300, argumentsSQL: #"'{"text": "u"}'::jsonb"#)
                    let safe = try await daemon.enqueueMany("idempotent_echo", on: server, count: 300, argumentsSQL: #"'{"text": "s"}'::jsonb"#)
                    try await flaky.waitForCalls("unsafe_write", 20)
                    let unfinished = try await db.executions(unsafe + safe).values.filter { $0.completedAt == nil }.count
                    try await cluster.restart()
                    #expect(unfinished > 0, "the restart came mid-run")
                    let rows = try await db.waitUntilTerminal(unsafe + safe, within: .seconds(120), "every execution to end after the restart")
                    let failed = rows.values.filter { $0.status != "success" }
                    #expect(failed.isEmpty, "\(failed.count) did not succeed; first: \(failed.first?.errorMessage ?? "")")
                    let rerun = rows.values.filter { $0.attempts > 1 }
                    #expect(flaky.calls("unsafe_write") == unsafe.count, "each non-idempotent execution ran exactly once; started more than once: \(rerun.count) (first: \(rerun.first.map { "\($0.id) attempts \($0.attempts)" } ?? "-"))")
                    #expect(flaky.calls("idempotent_echo") == safe.count, "and so did the idempotent ones: nothing needed a re-run")
                    #expect(rows.values.allSatisfy { !$0.queued })
                }
            }
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }
}
