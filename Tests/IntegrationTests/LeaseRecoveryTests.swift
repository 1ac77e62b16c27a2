import Foundation
import PostgresNIO
import Testing

@testable import AstraMCP

/// A worker that died holding executions must not strand them.
@Suite("Lease recovery", .timeLimit(.minutes(1)))
struct LeaseRecoveryTests {
    @Test("an execution whose lease expired (its worker died) is claimed again and run")
    func expiredLeaseIsReclaimed() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                let demo = try await daemon.registerDemoServer()
                try await daemon.sync(demo)
                // A dead worker's claim: leased, 'running', lease expired a minute ago. Enqueue
                // it inside one transaction so this worker cannot claim it first.
                let id = UUID()
                let tool = try await daemon.database.query(
                    "SELECT id FROM mcp_tools WHERE server_id = \(demo.id) AND tool_name = 'echo'", logger: daemon.logger
                ).collect()[0].decode(UUID.self)
                let statements = [
                    "BEGIN",
                    """
                    INSERT INTO mcp_tool_executions (id, user_id, team_id, server_id, tool_id, input_parameters, status, attempts)
                    VALUES ('\(id)', '\(UUID())', '\(daemon.team)', '\(demo.id)', '\(tool)', '{"text":"recovered"}', 'pending', 1)
                    """,
                    """
                    UPDATE mcp_execution_queue SET lease_owner = 'dead-worker', lease_expires_at = now() - interval '1 minute', attempt = 1
                    WHERE execution_id = '\(id)'
                    """,
                    "UPDATE mcp_tool_executions SET status = 'running' WHERE id = '\(id)'",
                    "COMMIT",
                ]
                try await daemon.database.withConnection { connection in
                    for sql in statements {
                        _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: TestLogging.logger).collect()
                    }
                }
                try await eventually(.seconds(10), "the expired execution to be run again") {
                    try await daemon.execution(id).status == "success"
                }
            }
        }
    }
}
