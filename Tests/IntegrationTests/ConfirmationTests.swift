import Foundation
import PostgresNIO
import Testing

@testable import AstraMCP

/// `requires_confirmation`: nothing runs until the execution is confirmed.
@Suite("Confirmation", .timeLimit(.minutes(2)))
struct ConfirmationTests {
    func status(_ daemon: TestDaemon, _ id: UUID) async throws -> (status: String, queued: Bool) {
        let row = try await daemon.execution(id)
        return (row.status, row.queued)
    }

    @Test("an execution of a tool that requires confirmation waits, out of the queue, until confirmed; then it runs")
    func confirmed() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                let server = try await daemon.registerFastServer()
                try await daemon.sync(server)
                try await daemon.execute("UPDATE mcp_tools SET requires_confirmation = true WHERE tool_name = 'add'")
                let id = try await daemon.enqueue("add", on: server, arguments: #"{"a": 2, "b": 2}"#)
                #expect(try await status(daemon, id) == ("awaiting_confirmation", false))
                // An execution confirmed in its INSERT runs at once.
                let preconfirmed = try await daemon.database.query(
                    """
                    INSERT INTO mcp_tool_executions (user_id, team_id, server_id, tool_id, input_parameters, confirmed_at, confirmed_by)
                    SELECT \(UUID()), \(daemon.team), \(server.id), id, '{"a": 1, "b": 1}'::jsonb, now(), \(UUID())
                    FROM mcp_tools WHERE server_id = \(server.id) AND tool_name = 'add' RETURNING id
                    """, logger: daemon.logger
                ).collect()[0].decode(UUID.self)
                #expect(try await daemon.finished(preconfirmed).outputText == "2")
                #expect(try await status(daemon, id).status == "awaiting_confirmation", "still waiting: nobody confirmed it")

                let (ids, _) = try await daemon.runToCompletion {
                    let confirmed = try await daemon.database.query(
                        "SELECT astra_mcpd_confirm_execution(\(id), \(UUID()))", logger: daemon.logger
                    ).collect()[0].decode(Bool?.self)
                    #expect(confirmed == true)
                    return [id]
                }
                let row = try await daemon.execution(ids[0])
                #expect(row.status == "success")
                #expect(row.outputText == "4")
            }
        }
    }

    @Test("an unconfirmed execution ends error after confirmation_timeout_seconds; a cancelled one ends cancelled; neither reaches the server")
    func expiredOrCancelled() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db, configure: { $0.confirmationTimeout = .milliseconds(500) }) { daemon in
                let server = try await daemon.registerFastServer()
                try await daemon.sync(server)
                try await daemon.execute("UPDATE mcp_tools SET requires_confirmation = true WHERE tool_name = 'add'")
                let (ids, _) = try await daemon.runToCompletion {
                    let expiring = try await daemon.enqueue("add", on: server, arguments: #"{"a": 1, "b": 2}"#)
                    let cancelled = try await daemon.enqueue("add", on: server, arguments: #"{"a": 3, "b": 4}"#)
                    #expect(try await daemon.cancel(cancelled))
                    return [expiring, cancelled]
                }
                let expired = try await daemon.execution(ids[0])
                #expect(expired.status == "error")
                #expect(expired.errorMessage?.hasPrefix("not confirmed within 0.5 s (the tool requires confirmation") == true, "\(expired.errorMessage ?? "")")
                let cancelled = try await daemon.execution(ids[1])
                #expect(cancelled.status == "cancelled")
                #expect(cancelled.errorMessage == "cancelled before it was confirmed")
                let executed = try await daemon.database.query(
                    "SELECT coalesce(execution_count, 0) FROM mcp_tools WHERE server_id = \(server.id) AND tool_name = 'add'", logger: daemon.logger
                ).collect()[0].decode(Int64.self)
                #expect(executed == 0, "the server never ran either")
            }
        }
    }
}
