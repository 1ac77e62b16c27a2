import Foundation
import PostgresNIO
import Testing

@testable import AstraMCP

/// `execution_retention_days`: finished executions past it are deleted in bounded batches by one
/// daemon of the fleet at a time; nothing else goes, and the tools' statistics stay.
@Suite("Execution retention", .timeLimit(.minutes(2)))
struct RetentionTests {
    @Test("only finished executions past the retention go (not pending ones, nor those with a callback to deliver); the tools' statistics stay")
    func deletesOnlyWhatItShould() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db, configure: { $0.executionRetentionDays = 30 }) { daemon in
                let server = try await daemon.registerFastServer()
                try await daemon.addTool("add", to: server)
                try await db.execute("UPDATE mcp_tools SET execution_count = 99, success_count = 90, error_count = 9 WHERE server_id = '\(server.id)'")
                func insert(_ status: String, daysAgo: Int) async throws -> UUID {
                    try await db.withConnection { connection in
                        try await connection.query(
                            PostgresQuery(unsafeSQL: """
                                INSERT INTO mcp_tool_executions (user_id, team_id, server_id, tool_id, input_parameters, status, executed_at, completed_at)
                                SELECT gen_random_uuid(), '\(daemon.team)', '\(server.id)', id, '{}', '\(status)',
                                       now() - interval '\(daysAgo) days', CASE WHEN '\(status)' = 'pending' THEN NULL ELSE now() - interval '\(daysAgo) days' END
                                FROM mcp_tools WHERE server_id = '\(server.id)' RETURNING id
                                """), logger: TestLogging.logger
                        ).collect()[0].decode(UUID.self)
                    }
                }
                // Pending rows of the past would be claimed and run: hold the server back first.
                try await db.execute("UPDATE mcp_servers SET is_active = false WHERE id = '\(server.id)'")
                let old = [try await insert("success", daysAgo: 40), try await insert("error", daysAgo: 31), try await insert("rate_limited", daysAgo: 60)]
                let recent = try await insert("success", daysAgo: 29)
                let undelivered = try await insert("success", daysAgo: 45)
                try await db.execute(
                    "INSERT INTO mcp_callback_deliveries (execution_id, team_id, url, payload) VALUES ('\(undelivered)', '\(daemon.team)', 'http://127.0.0.1:9/', '{}')")

                // The daemon's maintenance sweep runs it (every poll interval).
                try await eventually(.seconds(30), "the sweep to delete the old executions") {
                    try await db.executions(old).isEmpty
                }
                let left = try await db.executions([recent, undelivered])
                #expect(left.count == 2, "the recent one, and the one whose callback is still due, stay")
                let stats = try await db.withConnection { connection in
                    try await connection.query(
                        "SELECT execution_count, success_count, error_count FROM mcp_tools WHERE server_id = \(server.id)", logger: TestLogging.logger
                    ).collect()[0].decode((Int64, Int64, Int64).self)
                }
                #expect(stats == (99, 90, 9), "statistics are counters of their own")
            }
        }
    }

    @Test("one daemon of a fleet sweeps at a time: a sweep while another holds the lock deletes nothing")
    func oneSweeperAtATime() async throws {
        try await TestDatabase.with { db in
            let (team, server, tool) = (UUID(), UUID(), UUID())
            try await db.execute("INSERT INTO mcp_servers (id, team_id, name, server_type, config) VALUES ('\(server)', '\(team)', 's', 'stdio', '{}')")
            try await db.execute("INSERT INTO mcp_tools (id, server_id, tool_name, input_schema) VALUES ('\(tool)', '\(server)', 't', '{}')")
            try await db.execute(
                """
                INSERT INTO mcp_tool_executions (user_id, team_id, server_id, tool_id, input_parameters, status, executed_at, completed_at)
                SELECT gen_random_uuid(), '\(team)', '\(server)', '\(tool)', '{}', 'success', now() - interval '90 days', now() - interval '90 days'
                FROM generate_series(1, 12000)
                """)
            let client = PostgresClient(configuration: try DatabaseURL(db.url).clientConfiguration(maximumConnections: 2), backgroundLogger: TestLogging.logger)
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await client.run() }
                let store = QueueStore(database: client, workerID: "sweeper", logger: TestLogging.logger, answerTimeout: .seconds(30))
                // Another daemon's sweep holds the lock in its transaction.
                try await db.withConnection { other in
                    _ = try await other.query("BEGIN", logger: TestLogging.logger).collect()
                    _ = try await other.query("SELECT pg_advisory_xact_lock(hashtext('astra_mcpd_execution_retention'))", logger: TestLogging.logger).collect()
                    #expect(try await store.deleteExpiredExecutions(olderThanDays: 30) == 0)
                    _ = try await other.query("COMMIT", logger: TestLogging.logger).collect()
                }
                // Then in batches of at most 5000, up to ten a call.
                #expect(try await store.deleteExpiredExecutions(olderThanDays: 30) == 12000)
                group.cancelAll()
            }
        }
    }
}
