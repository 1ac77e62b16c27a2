import Foundation
import Synchronization
import Testing

@testable import AstraMCP

/// Records when each tool call started (the worker's `onCallStarted` hook).
final class CallStarts: Sendable {
    private let starts = Mutex<[UUID: Date]>([:])

    func record(_ id: UUID) {
        let now = Date()
        starts.withLock { $0[id] = now }
    }

    var all: [UUID: Date] { starts.withLock { $0 } }

    /// The most calls in flight at once: at each start, the calls started by then and not
    /// yet completed. A slot is freed only once an outcome is stored, so a call that starts
    /// in a freed slot starts after the previous one's `completed_at`.
    func maxInFlight(completions: [UUID: Date]) -> Int {
        let starts = all
        var most = 0
        for (_, start) in starts {
            let inFlight = starts.filter { id, other in
                other <= start && (completions[id].map { $0 > start } ?? true)
            }.count
            most = max(most, inFlight)
        }
        return most
    }
}

@Suite("Throughput and max_concurrency", .timeLimit(.minutes(4)))
struct ConcurrencyTests {
    @Test("300 executions across three servers all succeed, never more than max_concurrency in flight")
    func hundredsAcrossThreeServers() async throws {
        let starts = CallStarts()
        try await TestDatabase.with { db in
            try await TestDaemon.with(db, configure: { $0.maxConcurrency = 8; $0.claimBatchSize = 8 }, onCallStarted: starts.record) { daemon in
                let demo = try await daemon.registerDemoServer()
                let fast = try await daemon.registerFastServer()
                let time = try await daemon.registerTimeServer()
                for server in [demo, fast, time] { try await daemon.sync(server) }

                let (ids, _) = try await daemon.runToCompletion(timeout: .seconds(180)) {
                    async let echoes = daemon.enqueueMany("echo", on: demo, count: 50, argumentsSQL: "jsonb_build_object('text', 'echo ' || g)")
                    async let sleeps = daemon.enqueueMany("sleep", on: demo, count: 50, argumentsSQL: "jsonb_build_object('seconds', 0.02)")
                    async let sums = daemon.enqueueMany("add", on: fast, count: 100, argumentsSQL: "jsonb_build_object('a', g, 'b', 1000)")
                    async let times = daemon.enqueueMany("get_current_time", on: time, count: 100, argumentsSQL: #"'{"timezone":"UTC"}'::jsonb"#)
                    return try await echoes + sleeps + sums + times
                }
                #expect(ids.count == 300)
                let rows = try await ExecutionRow.fetchAll(ids, from: daemon.database, logger: daemon.logger)
                #expect(rows.count == 300)
                let failed = rows.values.filter { $0.status != "success" }
                #expect(failed.isEmpty, "not successful: \(failed.prefix(3).map { "\($0.status): \($0.errorMessage ?? "")" })")
                #expect(rows.values.allSatisfy { !$0.queued && $0.attempts == 1 && $0.completedAt != nil })

                // Each result is the one for its own arguments.
                let sums = try await daemon.database.query(
                    """
                    SELECT count(*)::int FROM mcp_tool_executions
                    WHERE server_id = \(fast.id)
                      AND (output_result->'structuredContent'->>'sum')::int = (input_parameters->>'a')::int + 1000
                    """, logger: daemon.logger
                ).collect()
                #expect(try sums[0].decode(Int.self) == 100)
                let echoes = try await daemon.database.query(
                    """
                    SELECT count(*)::int FROM mcp_tool_executions e JOIN mcp_tools t ON t.id = e.tool_id
                    WHERE t.tool_name = 'echo' AND e.output_result->'content'->0->>'text' = e.input_parameters->>'text'
                    """, logger: daemon.logger
                ).collect()
                #expect(try echoes[0].decode(Int.self) == 50)

                #expect(starts.all.count == 300)
                let most = starts.maxInFlight(completions: rows.compactMapValues(\.completedAt))
                #expect(most <= 8)
                #expect(most >= 2, "the calls ran concurrently")
            }
        }
    }

    @Test("12 sleeps of 0.3 s with max_concurrency 4: exactly 4 at a time, so at least 0.9 s")
    func sleepsRespectTheLimit() async throws {
        let starts = CallStarts()
        try await TestDatabase.with { db in
            try await TestDaemon.with(db, configure: { $0.maxConcurrency = 4 }, onCallStarted: starts.record) { daemon in
                let demo = try await daemon.registerDemoServer()
                try await daemon.sync(demo)
                let began = ContinuousClock.now
                let (ids, _) = try await daemon.runToCompletion {
                    try await daemon.enqueueMany("sleep", on: demo, count: 12, argumentsSQL: "jsonb_build_object('seconds', 0.3)")
                }
                let elapsed = ContinuousClock.now - began
                let rows = try await ExecutionRow.fetchAll(ids, from: daemon.database, logger: daemon.logger)
                #expect(rows.values.allSatisfy { $0.status == "success" })
                #expect(elapsed >= .milliseconds(900))
                #expect(starts.maxInFlight(completions: rows.compactMapValues(\.completedAt)) == 4)
            }
        }
    }
}
