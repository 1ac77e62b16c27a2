import Foundation
import PostgresNIO
import Testing

@testable import AstraMCP

/// The migrations, and the integrity the schema enforces on its own.
@Suite("Schema and migrations", .timeLimit(.minutes(2)))
struct SchemaTests {
    @Test("migrate applies every migration once; a second run applies nothing")
    func migrateTwice() async throws {
        try await TestDatabase.with(migrated: false) { db in
            let known = try Migration.bundled().map(\.version)
            #expect(try await db.migrate() == known)
            #expect(try await db.migrate() == [])
            let recorded = try await db.withConnection { connection in
                try await connection.query("SELECT version FROM astra_mcpd_migrations ORDER BY version", logger: TestLogging.logger)
                    .collect().map { try $0.decode(Int.self) }
            }
            #expect(recorded == known)
        }
    }

    @Test("migrate refuses a database that has a migration this binary does not know")
    func unknownMigration() async throws {
        try await TestDatabase.with { db in
            try await db.execute("INSERT INTO astra_mcpd_migrations (version, name) VALUES (9999, 'from_the_future')")
            let error = await #expect(throws: MigrationError.self) { try await db.migrate() }
            #expect(error?.description.contains("9999") == true)
            let checkError = await #expect(throws: MigrationError.self) {
                try await db.withConnection { connection in
                    try await Migrator(migrations: Migration.bundled(), logger: TestLogging.logger).checkUpToDate(connection)
                }
            }
            #expect(checkError?.description.contains("9999") == true)
        }
    }

    @Test("an execution naming another team's server is rejected by a foreign key")
    func crossTeamRowRejected() async throws {
        try await TestDatabase.with { db in
            let team = UUID()
            let otherTeam = UUID()
            let server = UUID()
            let tool = UUID()
            try await db.execute("""
                INSERT INTO mcp_servers (id, team_id, name, server_type, config) VALUES ('\(server)', '\(team)', 's', 'stdio', '{"command":"x"}');
                """)
            try await db.execute("INSERT INTO mcp_tools (id, server_id, tool_name, input_schema) VALUES ('\(tool)', '\(server)', 't', '{}')")
            let error = await #expect(throws: PSQLError.self) {
                try await db.execute("""
                    INSERT INTO mcp_tool_executions (user_id, team_id, server_id, tool_id, input_parameters)
                    VALUES ('\(UUID())', '\(otherTeam)', '\(server)', '\(tool)', '{}')
                    """)
            }
            #expect(error?.serverInfo?[.sqlState] == "23503", "foreign_key_violation")
            #expect(error?.serverInfo?[.constraintName] == "mcp_tool_executions_server_of_team_fkey")

            // The same row for the server's own team is accepted and queued.
            try await db.execute("""
                INSERT INTO mcp_tool_executions (user_id, team_id, server_id, tool_id, input_parameters)
                VALUES ('\(UUID())', '\(team)', '\(server)', '\(tool)', '{}')
                """)
            let queued = try await db.withConnection { connection in
                try await connection.query("SELECT count(*)::int FROM mcp_execution_queue", logger: TestLogging.logger).collect()[0].decode(Int.self)
            }
            #expect(queued == 1)
        }
    }

    @Test("an execution naming a tool of another server is rejected by a foreign key")
    func toolOfAnotherServerRejected() async throws {
        try await TestDatabase.with { db in
            let team = UUID()
            let (a, b, toolOfB) = (UUID(), UUID(), UUID())
            try await db.execute("INSERT INTO mcp_servers (id, team_id, name, server_type, config) VALUES ('\(a)', '\(team)', 'a', 'stdio', '{}'), ('\(b)', '\(team)', 'b', 'stdio', '{}')")
            try await db.execute("INSERT INTO mcp_tools (id, server_id, tool_name, input_schema) VALUES ('\(toolOfB)', '\(b)', 't', '{}')")
            let error = await #expect(throws: PSQLError.self) {
                try await db.execute("""
                    INSERT INTO mcp_tool_executions (user_id, team_id, server_id, tool_id, input_parameters)
                    VALUES ('\(UUID())', '\(team)', '\(a)', '\(toolOfB)', '{}')
                    """)
            }
            #expect(error?.serverInfo?[.constraintName] == "mcp_tool_executions_tool_of_server_fkey")
        }
    }
}
