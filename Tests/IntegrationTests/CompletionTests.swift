import Foundation
import PostgresNIO
import Testing

@testable import AstraMCP

/// What a finished execution leaves behind: statistics and a notification.
@Suite("Completion: statistics and notifications", .timeLimit(.minutes(2)))
struct CompletionTests {
    @Test("tool statistics count runs, successes and errors, with an average duration")
    func statistics() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                let demo = try await daemon.registerDemoServer()
                try await daemon.sync(demo)
                _ = try await daemon.runToCompletion {
                    let ok = try await daemon.enqueueMany("sleep", on: demo, count: 3, argumentsSQL: "jsonb_build_object('seconds', 0.1)")
                    let bad = try await daemon.enqueueMany("sleep", on: demo, count: 2, argumentsSQL: "jsonb_build_object('seconds', -1)")
                    return ok + bad
                }
                let rows = try await daemon.database.query(
                    "SELECT execution_count, success_count, error_count, avg_duration_ms, last_executed_at IS NOT NULL FROM mcp_tools WHERE server_id = \(demo.id) AND tool_name = 'sleep'",
                    logger: daemon.logger
                ).collect()
                let (count, successes, errors, average, executed) = try rows[0].decode((Int64, Int64, Int64, Int32?, Bool).self)
                #expect(count == 5)
                #expect(successes == 3)
                #expect(errors == 2)
                #expect(executed)
                #expect((average ?? 0) >= 60, "three runs of at least 100 ms and two fast errors average at least 60 ms")

                let untouched = try await daemon.database.query(
                    "SELECT coalesce(sum(execution_count), 0)::int FROM mcp_tools WHERE server_id = \(demo.id) AND tool_name <> 'sleep'",
                    logger: daemon.logger
                ).collect()
                #expect(try untouched[0].decode(Int.self) == 0)
            }
        }
    }

    @Test("the astra_mcpd_finished payload names the finished execution's id")
    func notificationPayload() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                let demo = try await daemon.registerDemoServer()
                try await daemon.sync(demo)
                let (ids, payloads) = try await daemon.runToCompletion {
                    [try await daemon.enqueue("add", on: demo, arguments: #"{"a":20,"b":22}"#)]
                }
                let id = ids[0].uuidString.lowercased()
                #expect(payloads.contains { $0.split(separator: ",").contains(Substring(id)) }, "\(payloads)")
                let row = try await daemon.execution(ids[0])
                #expect(row.status == "success")
                #expect(row.outputText == "42")
                #expect((row.output?["structuredContent"] as? [String: Any])?["sum"] as? Int == 42)
                #expect(row.durationMilliseconds != nil)
            }
        }
    }
}
