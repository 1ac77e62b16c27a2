import Foundation
import PostgresNIO
import Testing

@testable import AstraMCP

/// Applying `migrations/roles/roles.sql`: with `astra-mcpd migrate --roles` and with psql, again
/// and again, with other role names; not before the schema is migrated.
@Suite("Applying roles.sql", .timeLimit(.minutes(2)))
struct RoleApplyTests {
    @Test("roles.sql applies again cleanly, refuses an unmigrated database, and the CLI and psql apply it with other role names")
    func applying() async throws {
        let suffix = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(10)
        let (daemonRole, backendRole) = ("mcpd_group_\(suffix)", "backend_group_\(suffix)")
        try await TestDatabase.with(migrated: false) { db in
            let error = await #expect(throws: MigrationError.self) { try await db.applyRoles() }
            #expect(error?.description.contains("run astra-mcpd migrate first") == true, "\(String(describing: error))")

            // The CLI: migrate --roles, twice.
            for _ in 1...2 {
                let process = try DaemonProcess(["migrate", "--roles", "--daemon-role", daemonRole, "--backend-role", backendRole, "--database-url", db.url])
                let status = try await process.waitForExit()
                #expect(status == 0, "\(process.standardError)")
            }
            try await db.withConnection { c in
                let roles = try await c.run("SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname IN ('\(daemonRole)', '\(backendRole)')")
                    .map { try $0.decode((String, Bool).self) }
                #expect(Set(roles.map(\.0)) == [daemonRole, backendRole])
                #expect(roles.allSatisfy { !$0.1 }, "group roles are NOLOGIN")
                let privileges = try await c.value(
                    """
                    SELECT array[has_column_privilege('\(daemonRole)', 'mcp_tool_executions', 'status', 'UPDATE'),
                                 has_column_privilege('\(backendRole)', 'mcp_tool_executions', 'status', 'UPDATE'),
                                 has_table_privilege('\(backendRole)', 'mcp_execution_queue', 'SELECT'),
                                 has_column_privilege('\(backendRole)', 'mcp_server_credentials', 'encrypted_value', 'SELECT'),
                                 has_column_privilege('\(backendRole)', 'mcp_tool_executions', 'input_parameters', 'INSERT')]
                    """, as: [Bool].self)
                #expect(privileges == [true, false, false, false, true])
            }

            // psql, as an operator runs it: the notice says row-level security was skipped.
            for _ in 1...2 {
                let (status, output) = try runPsql(db.url, file: TestPaths.repositoryRoot.appendingPathComponent("migrations/roles/roles.sql").path,
                                                   settings: ["astra_mcpd.daemon_role": daemonRole, "astra_mcpd.backend_role": backendRole])
                #expect(status == 0, "\(output)")
                #expect(output.contains("row-level security policies skipped: this database has no Supabase schema"), "\(output)")
            }
            // The same roles again: still the grants, not more.
            #expect(try await db.applyRoles(daemonRole: daemonRole, backendRole: backendRole).rowLevelSecurity.hasPrefix("skipped"))
        }
        // The group roles of this test only (the defaults are shared with the other tests).
        let server = try await TestCluster.url()
        try await DatabaseURL(server).withConnection(logger: TestLogging.logger) { c in
            try await c.run("DROP ROLE IF EXISTS \(daemonRole)")
            try await c.run("DROP ROLE IF EXISTS \(backendRole)")
        }
    }

    /// Runs `psql -1 -f file` against `url`, with `settings` as PGOPTIONS; returns its status and output.
    func runPsql(_ url: String, file: String, settings: [String: String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-1", "-f", file, url]
        var environment = ProcessInfo.processInfo.environment
        environment["PGOPTIONS"] = settings.map { "-c \($0.key)=\($0.value)" }.joined(separator: " ")
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}
