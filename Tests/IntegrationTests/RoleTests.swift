import Foundation
import PostgresNIO
import Testing

@testable import AstraMCP

/// `migrations/roles/roles.sql`: the backend's role may do what a backend does, and nothing of
/// the daemon's; what the triggers it fires write, they write on its behalf.
@Suite("The backend's role", .timeLimit(.minutes(2)))
struct RoleTests {
    /// A server, its tools (one needing confirmation), a credential and an execution, made
    /// by the superuser.
    struct Fixture {
        var team = UUID()
        var user = UUID()
        var server = UUID()
        var tool = UUID()
        var confirmTool = UUID()
        var execution = UUID()
    }

    func makeFixture(_ db: TestDatabase) async throws -> Fixture {
        let f = Fixture()
        try await db.withConnection { c in
            try await c.run("""
                INSERT INTO mcp_servers (id, team_id, name, server_type, config) VALUES ('\(f.server)', '\(f.team)', 's', 'stdio', '{"command": "/bin/true"}');
                """)
            try await c.run("""
                INSERT INTO mcp_tools (id, server_id, tool_name, input_schema) VALUES ('\(f.tool)', '\(f.server)', 'add', '{}'),
                    ('\(f.confirmTool)', '\(f.server)', 'pay', '{}')
                """)
            try await c.run("UPDATE mcp_tools SET requires_confirmation = true WHERE id = '\(f.confirmTool)'")
            try await c.run("INSERT INTO mcp_server_credentials (server_id, credential_type, encrypted_value) VALUES ('\(f.server)', 'api_key', 'sealed')")
            try await c.run("""
                INSERT INTO mcp_tool_executions (id, user_id, team_id, server_id, tool_id, input_parameters)
                VALUES ('\(f.execution)', '\(f.user)', '\(f.team)', '\(f.server)', '\(f.tool)', '{}')
                """)
            try await c.run("INSERT INTO mcp_execution_attempts (execution_id, attempt, error_message) VALUES ('\(f.execution)', 1, 'x')")
        }
        return f
    }

    func insertExecution(_ f: Fixture, tool: UUID? = nil, extraColumns: String = "", extraValues: String = "") -> String {
        """
        INSERT INTO mcp_tool_executions (user_id, team_id, server_id, tool_id, input_parameters\(extraColumns))
        VALUES ('\(f.user)', '\(f.team)', '\(f.server)', '\(tool ?? f.tool)', '{"a": 1}'\(extraValues)) RETURNING id
        """
    }

    @Test("the backend's role does what a backend does: enqueue, read outcomes, cancel, confirm, manage servers and tools, write the inboxes")
    func backendMay() async throws {
        try await TestDatabase.with { db in
            let f = try await makeFixture(db)
            try await TestRoles.with(db) { roles in
                #expect(roles.rowLevelSecurity.hasPrefix("skipped"), "\(roles.rowLevelSecurity)")
                let (queued, awaiting, confirmed, cancelled) = try await roles.backend { c in
                    // Enqueue: the definer trigger queues it, though the backend cannot see the queue.
                    let queued = try await c.value(insertExecution(f, extraColumns: ", priority, chat_id", extraValues: ", 5, gen_random_uuid()"), as: UUID.self)
                    let (status, result) = try await c.run("SELECT status, output_result::text FROM mcp_tool_executions WHERE id = '\(queued)'")[0]
                        .decode((String, String?).self)
                    #expect(status == "pending" && result == nil)
                    // Read outcomes and attempts.
                    await c.expectAllowed("SELECT status, output_result, error_message, started_at, completed_at, duration_ms, attempts, progress FROM mcp_tool_executions")
                    await c.expectAllowed("SELECT attempt, ended_at, error_message FROM mcp_execution_attempts WHERE execution_id = '\(f.execution)'")
                    // Cancel, with the function and with the column.
                    #expect(try await c.value("SELECT astra_mcpd_cancel_execution('\(queued)')", as: Bool?.self) == true)
                    await c.expectAllowed("UPDATE mcp_tool_executions SET cancel_requested_at = now() WHERE id = '\(f.execution)'")
                    // Confirm: held back by the definer trigger, released into the queue by another.
                    let awaiting = try await c.value(insertExecution(f, tool: f.confirmTool), as: UUID.self)
                    #expect(try await c.value("SELECT status FROM mcp_tool_executions WHERE id = '\(awaiting)'", as: String.self) == "awaiting_confirmation")
                    #expect(try await c.value("SELECT astra_mcpd_confirm_execution('\(awaiting)', '\(f.user)')", as: Bool?.self) == true)
                    #expect(try await c.value("SELECT status FROM mcp_tool_executions WHERE id = '\(awaiting)'", as: String.self) == "pending")
                    // Confirmed in the INSERT itself.
                    let confirmed = try await c.value(
                        insertExecution(f, tool: f.confirmTool, extraColumns: ", confirmed_at, confirmed_by", extraValues: ", now(), '\(f.user)'"), as: UUID.self)
                    // Cancelled while it waits, with a callback: the definer trigger queues the delivery.
                    let cancelled = try await c.value(
                        insertExecution(f, tool: f.confirmTool, extraColumns: ", callback_url", extraValues: ", 'https://backend.example/hook'"), as: UUID.self)
                    #expect(try await c.value("SELECT astra_mcpd_cancel_execution('\(cancelled)')", as: Bool?.self) == true)
                    #expect(try await c.value("SELECT status FROM mcp_tool_executions WHERE id = '\(cancelled)'", as: String.self) == "cancelled")

                    // Servers: register, configure, ask for a sync, delete.
                    let server = try await c.value(
                        "INSERT INTO mcp_servers (team_id, name, description, server_type, config, is_active, created_by) VALUES ('\(f.team)', 'b', 'd', 'http', '{\"url\": \"https://x.example/mcp\"}', false, '\(f.user)') RETURNING id",
                        as: UUID.self)
                    await c.expectAllowed("UPDATE mcp_servers SET config = '{\"url\": \"https://y.example/mcp\"}', is_active = true, name = 'b2', description = 'e', updated_at = now() WHERE id = '\(server)'")
                    await c.expectAllowed("UPDATE mcp_servers SET sync_requested_at = now() WHERE id = '\(server)'")
                    await c.expectAllowed("SELECT name, connection_status, last_error, is_healthy, circuit_state, last_synced_at FROM mcp_servers")
                    // Tools: the operator's settings.
                    let tool = try await c.value(
                        "INSERT INTO mcp_tools (server_id, tool_name, description, input_schema, timeout_seconds, max_attempts) VALUES ('\(server)', 't', 'd', '{}', 5, 2) RETURNING id",
                        as: UUID.self)
                    await c.expectAllowed(
                        "UPDATE mcp_tools SET is_enabled = false, requires_confirmation = true, timeout_seconds = 9, max_attempts = 3, is_idempotent = true, max_duration_seconds = 60 WHERE id = '\(tool)'")
                    await c.expectAllowed("SELECT tool_name, execution_count, success_count, avg_duration_ms FROM mcp_tools")
                    await c.expectAllowed("DELETE FROM mcp_tools WHERE id = '\(tool)'")
                    await c.expectAllowed("DELETE FROM mcp_servers WHERE id = '\(server)'")
                    // Credentials: the write-only inboxes, which credentials exist, and deleting one.
                    await c.expectAllowed("INSERT INTO mcp_server_credential_inbox (server_id, credential_type, secret, expires_at) VALUES ('\(f.server)', 'api_key', 's3cret', NULL)")
                    await c.expectAllowed("INSERT INTO mcp_team_callback_secret_inbox (team_id, secret) VALUES ('\(f.team)', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')")
                    await c.expectAllowed(
                        "INSERT INTO mcp_team_callbacks (team_id, default_url) VALUES ('\(f.team)', 'https://backend.example/hooks') ON CONFLICT (team_id) DO UPDATE SET default_url = EXCLUDED.default_url")
                    await c.expectAllowed(
                        "INSERT INTO mcp_team_callbacks (team_id, default_url) VALUES ('\(f.team)', 'https://backend.example/other') ON CONFLICT (team_id) DO UPDATE SET default_url = EXCLUDED.default_url")
                    #expect(try await c.value("SELECT count(*)::int FROM mcp_server_credentials WHERE server_id = '\(f.server)' AND expires_at IS NULL", as: Int.self) == 1)
                    await c.expectAllowed("SELECT id, server_id, credential_type, created_at, expires_at, last_used_at FROM mcp_server_credentials")
                    await c.expectAllowed("SELECT team_id, scope, max_executions, window_seconds, on_limit FROM mcp_rate_limits")
                    return (queued, awaiting, confirmed, cancelled)
                }
                // What the triggers did on the backend's behalf.
                try await db.withConnection { c in
                    let inQueue = Set(try await c.run("SELECT execution_id FROM mcp_execution_queue").map { try $0.decode(UUID.self) })
                    #expect(inQueue.isSuperset(of: [queued, awaiting, confirmed]))
                    #expect(!inQueue.contains(cancelled))
                    #expect(try await c.value("SELECT count(*)::int FROM mcp_callback_deliveries WHERE execution_id = '\(cancelled)'", as: Int.self) == 1)
                    #expect(try await c.value("SELECT count(*)::int FROM mcp_awaiting_confirmation", as: Int.self) == 0)
                    #expect(try await c.value("SELECT count(*)::int FROM mcp_server_credential_inbox", as: Int.self) == 1)
                    #expect(try await c.value("SELECT default_url FROM mcp_team_callbacks WHERE team_id = '\(f.team)'", as: String.self) == "https://backend.example/other")
                }
            }
        }
    }

    @Test("the backend's role cannot read a secret, write an outcome or statistics, forge a finished execution, or touch the queue and outbox")
    func backendMayNot() async throws {
        try await TestDatabase.with { db in
            let f = try await makeFixture(db)
            try await TestRoles.with(db) { roles in
                try await roles.backend { c in
                    // Secrets.
                    await c.expectDenied("SELECT encrypted_value FROM mcp_server_credentials")
                    await c.expectDenied("SELECT * FROM mcp_server_credentials")
                    await c.expectDenied("DELETE FROM mcp_server_credentials RETURNING encrypted_value")
                    await c.expectDenied("UPDATE mcp_server_credentials SET encrypted_value = 'x'")
                    await c.expectDenied("INSERT INTO mcp_server_credentials (server_id, credential_type, encrypted_value) VALUES ('\(f.server)', 'custom', 'x')")
                    await c.expectDenied("SELECT secret FROM mcp_server_credential_inbox")
                    await c.expectDenied("SELECT secret FROM mcp_team_callback_secret_inbox")
                    await c.expectDenied("DELETE FROM mcp_server_credential_inbox")
                    await c.expectDenied("SELECT encrypted_secret FROM mcp_team_callbacks")
                    await c.expectDenied("UPDATE mcp_team_callbacks SET encrypted_secret = 'x'")
                    await c.expectDenied("INSERT INTO mcp_team_callbacks (team_id, encrypted_secret) VALUES (gen_random_uuid(), 'x')")

                    // Outcomes, timing, attempts, progress and tasks of an execution.
                    for assignment in [
                        "status = 'success'", "output_result = '{\"content\": []}'", "error_message = 'x'", "started_at = now()",
                        "completed_at = now()", "duration_ms = 1", "attempts = 9", "progress = 1", "progress_message = 'x'",
                        "task_id = 'x'", "task_status = 'completed'", "input_parameters = '{}'", "team_id = gen_random_uuid()", "executed_at = now()",
                    ] {
                        await c.expectDenied("UPDATE mcp_tool_executions SET \(assignment) WHERE id = '\(f.execution)'")
                    }
                    await c.expectDenied("DELETE FROM mcp_tool_executions WHERE id = '\(f.execution)'")
                    await c.expectDenied("TRUNCATE mcp_tool_executions")
                    // A forged INSERT: already finished, with a result, or with attempts or timing of its own.
                    await c.expectDenied(insertExecution(f, extraColumns: ", status, output_result", extraValues: ", 'success', '{\"content\": []}'"))
                    await c.expectDenied(insertExecution(f, extraColumns: ", status", extraValues: ", 'running'"))
                    for column in ["attempts", "duration_ms"] {
                        await c.expectDenied(insertExecution(f, extraColumns: ", \(column)", extraValues: ", 1"))
                    }
                    for column in ["started_at", "completed_at", "executed_at"] {
                        await c.expectDenied(insertExecution(f, extraColumns: ", \(column)", extraValues: ", now()"))
                    }
                    await c.expectDenied(insertExecution(f, extraColumns: ", task_id", extraValues: ", 'x'"))
                    // Statistics and the sync's columns of a tool.
                    for assignment in [
                        "execution_count = 0", "success_count = 0", "error_count = 0", "avg_duration_ms = 0", "last_executed_at = now()",
                        "removed_at = NULL", "annotations = '{}'", "synced_at = now()", "input_schema = '{}'",
                    ] {
                        await c.expectDenied("UPDATE mcp_tools SET \(assignment) WHERE id = '\(f.tool)'")
                    }
                    await c.expectDenied("INSERT INTO mcp_tools (server_id, tool_name, input_schema, execution_count) VALUES ('\(f.server)', 'x', '{}', 100)")
                    // What the daemon records about a server.
                    for assignment in [
                        "connection_status = 'connected'", "last_error = NULL", "is_healthy = true", "failing_since = NULL", "circuit_state = 'closed'",
                        "circuit_open_until = NULL", "next_health_check_at = now()", "next_sync_at = now()", "last_synced_at = now()",
                        "deactivated_reason = NULL", "revision = 99", "last_connected_at = now()",
                    ] {
                        await c.expectDenied("UPDATE mcp_servers SET \(assignment) WHERE id = '\(f.server)'")
                    }
                    await c.expectDenied(
                        "INSERT INTO mcp_servers (team_id, name, server_type, config, connection_status) VALUES ('\(f.team)', 'x', 'stdio', '{}', 'connected')")
                    // The queue, the confirmation waits, the outbox: no access at all.
                    for table in ["mcp_execution_queue", "mcp_awaiting_confirmation", "mcp_callback_deliveries", "mcp_callback_attempts", "mcp_rate_counters"] {
                        await c.expectDenied("SELECT * FROM \(table)")
                        await c.expectDenied("SELECT count(*) FROM \(table)")
                        await c.expectDenied("DELETE FROM \(table)")
                        await c.expectDenied("INSERT INTO \(table) DEFAULT VALUES")
                        await c.expectDenied("TRUNCATE \(table)")
                    }
                    await c.expectDenied("UPDATE mcp_execution_queue SET lease_owner = 'me', lease_expires_at = now() + interval '1 day'")
                    await c.expectDenied("UPDATE mcp_execution_queue SET attempt = 0")
                    await c.expectDenied("INSERT INTO mcp_execution_queue (execution_id, server_id) VALUES ('\(f.execution)', '\(f.server)')")
                    await c.expectDenied("UPDATE mcp_callback_deliveries SET delivered_at = now()")
                    await c.expectDenied("INSERT INTO mcp_execution_attempts (execution_id, attempt, error_message) VALUES ('\(f.execution)', 2, 'x')")
                    await c.expectDenied("SELECT * FROM astra_mcpd_migrations")
                    // Rate limits are the operator's; a backend takes no slot and lifts no wait of its own.
                    await c.expectDenied("INSERT INTO mcp_rate_limits (team_id, scope, max_executions, window_seconds) VALUES ('\(f.team)', 'user', 1000000, 1)")
                    await c.expectDenied("UPDATE mcp_rate_limits SET max_executions = 1000000")
                    await c.expectDenied("DELETE FROM mcp_rate_limits")
                    await c.expectDenied("SELECT * FROM astra_mcpd_take_rate_slot('\(f.team)', '\(f.user)')")
                    await c.expectDenied("UPDATE mcp_tool_executions SET rate_limited_until = NULL WHERE id = '\(f.execution)'")
                    await c.expectDenied(insertExecution(f, extraColumns: ", rate_limited_until", extraValues: ", now()"))
                    // The definer trigger functions cannot be called (and not as a way round the grants).
                    #expect(await c.failure("SELECT astra_mcpd_enqueue_executions()") != nil)
                }
                // Nothing changed behind the denials.
                try await db.withConnection { c async throws in
                    #expect(try await c.value("SELECT status FROM mcp_tool_executions WHERE id = '\(f.execution)'", as: String.self) == "pending")
                    #expect(try await c.value("SELECT count(*)::int FROM mcp_tool_executions", as: Int.self) == 1)
                    #expect(try await c.value("SELECT count(*)::int FROM mcp_execution_queue", as: Int.self) == 1)
                }
            }
        }
    }
}
