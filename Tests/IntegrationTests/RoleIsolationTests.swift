import Foundation
import PostgresNIO
import Testing

@testable import AstraMCP

/// The seed's row-level security, applied by `roles.sql` where the database has Supabase's
/// schema (here a stand-in: `auth.uid()`, `users`, `anon`/`authenticated`/`service_role`).
@Suite("Row-level security of the seed", .timeLimit(.minutes(2)))
struct RoleIsolationTests {
    @Test("members see their team's servers, tools and executions, users their own; admins manage their team's servers only; credentials are the service role's")
    func isolation() async throws {
        try await TestDatabase.with { db in
            try await SupabaseStandIn.install(on: db)
            let (teamA, teamB, teamC) = (UUID(), UUID(), UUID())
            let (memberA, adminA, memberB, mover) = (UUID(), UUID(), UUID(), UUID())
            let (serverA, serverB, toolA, toolB) = (UUID(), UUID(), UUID(), UUID())
            let (executionA1, executionA2, executionB1, executionB2) = (UUID(), UUID(), UUID(), UUID())
            try await db.withConnection { c in
                try await c.run("""
                    INSERT INTO users (id, team_id, role) VALUES ('\(memberA)', '\(teamA)', 'member'), ('\(adminA)', '\(teamA)', 'admin'),
                        ('\(memberB)', '\(teamB)', 'member'), ('\(mover)', '\(teamC)', 'member')
                    """)
                try await c.run("""
                    INSERT INTO mcp_servers (id, team_id, name, server_type, config)
                    VALUES ('\(serverA)', '\(teamA)', 'a', 'stdio', '{}'), ('\(serverB)', '\(teamB)', 'b', 'stdio', '{}')
                    """)
                try await c.run("""
                    INSERT INTO mcp_tools (id, server_id, tool_name, input_schema) VALUES ('\(toolA)', '\(serverA)', 't', '{}'), ('\(toolB)', '\(serverB)', 't', '{}')
                    """)
                // B2 was run by a user who has since moved to team C: they still see it, as their own.
                try await c.run("""
                    INSERT INTO mcp_tool_executions (id, user_id, team_id, server_id, tool_id, input_parameters) VALUES
                        ('\(executionA1)', '\(memberA)', '\(teamA)', '\(serverA)', '\(toolA)', '{}'),
                        ('\(executionA2)', '\(adminA)', '\(teamA)', '\(serverA)', '\(toolA)', '{}'),
                        ('\(executionB1)', '\(memberB)', '\(teamB)', '\(serverB)', '\(toolB)', '{}'),
                        ('\(executionB2)', '\(mover)', '\(teamB)', '\(serverB)', '\(toolB)', '{}')
                    """)
                try await c.run("INSERT INTO mcp_server_credentials (server_id, credential_type, encrypted_value) VALUES ('\(serverA)', 'api_key', 'sealed')")
            }
            try await TestRoles.with(db) { roles in
                #expect(roles.rowLevelSecurity == "applied")
                // Again: the same policies, not more.
                #expect(try await db.applyRoles().rowLevelSecurity == "applied")

                try await db.withConnection { c in
                    #expect(try await c.value("SELECT count(*)::int FROM pg_policies WHERE tablename = 'mcp_tool_executions'", as: Int.self) == 4)
                    typealias S = SupabaseStandIn
                    // Members see their team's servers, tools and executions.
                    #expect(try await S.ids(memberA, on: c, "SELECT id FROM mcp_servers") == [serverA])
                    #expect(try await S.ids(memberA, on: c, "SELECT id FROM mcp_tools") == [toolA])
                    #expect(try await S.ids(memberA, on: c, "SELECT id FROM mcp_tool_executions") == [executionA1, executionA2])
                    #expect(try await S.ids(memberB, on: c, "SELECT id FROM mcp_servers") == [serverB])
                    #expect(try await S.ids(memberB, on: c, "SELECT id FROM mcp_tools") == [toolB])
                    #expect(try await S.ids(memberB, on: c, "SELECT id FROM mcp_tool_executions") == [executionB1, executionB2])
                    // A user sees their own executions, whatever their team now.
                    #expect(try await S.ids(mover, on: c, "SELECT id FROM mcp_tool_executions") == [executionB2])
                    #expect(try await S.ids(mover, on: c, "SELECT id FROM mcp_servers").isEmpty)
                    // Nobody signed in sees nothing.
                    #expect(try await S.ids(UUID(), on: c, "SELECT id FROM mcp_tool_executions").isEmpty)

                    // An admin manages their team's servers, and only theirs.
                    #expect(try await S.ids(adminA, on: c, "UPDATE mcp_servers SET description = 'x' WHERE id = '\(serverA)' RETURNING id") == [serverA])
                    #expect(try await S.ids(adminA, on: c, "UPDATE mcp_servers SET description = 'x' WHERE id = '\(serverB)' RETURNING id").isEmpty)
                    #expect(try await S.ids(adminA, on: c, "DELETE FROM mcp_servers WHERE id = '\(serverB)' RETURNING id").isEmpty)
                    #expect(try await S.asUser(adminA, on: c, "INSERT INTO mcp_servers (team_id, name, server_type, config) VALUES ('\(teamA)', 'new', 'stdio', '{}') RETURNING id").count == 1)
                    #expect(await S.failureAsUser(adminA, on: c, "INSERT INTO mcp_servers (team_id, name, server_type, config) VALUES ('\(teamB)', 'new', 'stdio', '{}')") == "42501")
                    #expect(await S.failureAsUser(adminA, on: c, "UPDATE mcp_servers SET team_id = '\(teamB)' WHERE id = '\(serverA)'") == "42501")
                    // …and not what the daemon records about them.
                    #expect(await S.failureAsUser(adminA, on: c, "UPDATE mcp_servers SET connection_status = 'connected' WHERE id = '\(serverA)'") == "42501")
                    // A member who is not an admin manages nothing.
                    #expect(try await S.ids(memberA, on: c, "UPDATE mcp_servers SET description = 'x' WHERE id = '\(serverA)' RETURNING id").isEmpty)
                    #expect(try await S.ids(memberA, on: c, "DELETE FROM mcp_servers WHERE id = '\(serverA)' RETURNING id").isEmpty)
                    #expect(await S.failureAsUser(memberA, on: c, "INSERT INTO mcp_servers (team_id, name, server_type, config) VALUES ('\(teamA)', 'new', 'stdio', '{}')") == "42501")
                    // Users write no execution, tool or outcome.
                    #expect(await S.failureAsUser(adminA, on: c, "UPDATE mcp_tool_executions SET status = 'success' WHERE id = '\(executionA1)'") == "42501")
                    #expect(await S.failureAsUser(adminA, on: c, "UPDATE mcp_tools SET execution_count = 0") == "42501")

                    // Credentials, the inboxes, the queue and the outbox: not for users (Supabase's default grants are taken back).
                    for sql in [
                        "SELECT encrypted_value FROM mcp_server_credentials", "SELECT count(*) FROM mcp_server_credentials",
                        "SELECT * FROM mcp_server_credential_inbox", "SELECT * FROM mcp_team_callback_secret_inbox", "SELECT * FROM mcp_team_callbacks",
                        "SELECT * FROM mcp_execution_queue", "SELECT * FROM mcp_callback_deliveries", "SELECT * FROM astra_mcpd_migrations",
                        "SELECT * FROM mcp_rate_counters", "INSERT INTO mcp_rate_limits (team_id, scope, max_executions, window_seconds) VALUES (NULL, 'user', 1, 1)",
                    ] {
                        #expect(await S.failureAsUser(adminA, on: c, sql) == "42501", "\(sql)")
                    }
                    #expect(await S.failureAsUser(memberA, role: "anon", on: c, "SELECT * FROM mcp_servers") == "42501")
                    // The service role reaches them.
                    let sealed = try await S.asUser(adminA, role: "service_role", on: c, "SELECT encrypted_value FROM mcp_server_credentials").map { try $0.decode(String.self) }
                    #expect(sealed == ["sealed"])

                    // The daemon and the backend serve every team: their policies follow membership.
                    for login in [roles.daemonLogin, roles.backendLogin] {
                        #expect(try await S.ids(UUID(), role: login, on: c, "SELECT id FROM mcp_tool_executions").count == 4, "\(login)")
                        #expect(try await S.ids(UUID(), role: login, on: c, "SELECT id FROM mcp_servers").count >= 2, "\(login)")
                        #expect(try await S.ids(UUID(), role: login, on: c, "SELECT id FROM mcp_tools") == [toolA, toolB], "\(login)")
                        #expect(try await S.ids(UUID(), role: login, on: c, "SELECT server_id FROM mcp_server_credentials") == [serverA], "\(login)")
                    }
                    #expect(await S.failureAsUser(UUID(), role: roles.backendLogin, on: c, "SELECT encrypted_value FROM mcp_server_credentials") == "42501")
                }
            }
        }
    }
}
