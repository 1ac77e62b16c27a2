import Foundation
import PostgresNIO
import Testing

@testable import AstraMCP

/// `tools/list` into `mcp_tools`.
@Suite("Tool sync", .timeLimit(.minutes(2)))
struct ToolSyncTests {
    struct ToolRow: Sendable {
        var enabled: Bool
        var timeout: Int32
        var removed: Bool
        var requiresConfirmation: Bool
    }

    private func tools(_ daemon: TestDaemon, _ server: ServerDescriptor) async throws -> [String: ToolRow] {
        let rows = try await daemon.database.query(
            "SELECT tool_name, is_enabled, timeout_seconds, removed_at IS NOT NULL, requires_confirmation FROM mcp_tools WHERE server_id = \(server.id)",
            logger: daemon.logger
        ).collect()
        var result: [String: ToolRow] = [:]
        for row in rows {
            let (name, enabled, timeout, removed, confirm) = try row.decode((String, Bool, Int32, Bool, Bool).self)
            result[name] = ToolRow(enabled: enabled, timeout: timeout, removed: removed, requiresConfirmation: confirm)
        }
        return result
    }

    @Test("every page of tools/list is synced (page size 1 gives all four tools)")
    func paginated() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                let demo = try await daemon.registerDemoServer(args: ["--page-size", "1"])
                let result = try await daemon.sync(demo)
                #expect(result.toolsOffered == 4)
                #expect(result.toolsRemoved == 0)
                #expect(Set(try await tools(daemon, demo).keys) == ["echo", "add", "sleep", "fail"])

                let metadata = try await daemon.database.query(
                    "SELECT title, input_schema->>'type', connection_status FROM mcp_tools t JOIN mcp_servers s ON s.id = t.server_id WHERE t.server_id = \(demo.id) AND tool_name = 'add'",
                    logger: daemon.logger
                ).collect()
                let (title, schemaType, status) = try metadata[0].decode((String?, String?, String).self)
                #expect(title == "Add")
                #expect(schemaType == "object")
                #expect(status == "connected")
            }
        }
    }

    @Test("a tool that disappears is disabled and keeps the operator's settings; when it returns they are restored")
    func disappearingTool() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                var server = try await daemon.registerDemoServer("calc")
                try await daemon.sync(server)
                try await daemon.waitForBackgroundSyncs(server)
                try await daemon.execute("""
                    UPDATE mcp_tools SET timeout_seconds = 7, requires_confirmation = true WHERE tool_name = 'echo';
                    """)
                try await daemon.execute("UPDATE mcp_tools SET is_enabled = false, timeout_seconds = 9 WHERE tool_name = 'sleep'")
                try await daemon.execute("UPDATE mcp_tools SET timeout_seconds = 11 WHERE tool_name = 'add'")

                // The server is replaced by one that offers only `add`.
                let fastConfig = try TestDaemon.serverConfig(command: "python3", args: ["-u", TestPaths.fastServer], env: [:])
                try await daemon.execute("UPDATE mcp_servers SET config = '\(fastConfig)'::jsonb WHERE id = '\(server.id)'")
                server.configJSON = fastConfig
                let shrunk = try await daemon.sync(server)
                #expect(shrunk.toolsOffered == 1)
                // No check of `shrunk.toolsRemoved`: the sync the daemon makes after every connect
                // may have disabled the three tools first (the rows below show the outcome).
                var rows = try await tools(daemon, server)
                #expect(rows.count == 4, "removed tools are kept, never deleted")
                #expect(rows["add"].map { $0.enabled && !$0.removed && $0.timeout == 11 } == true)
                for name in ["echo", "sleep", "fail"] {
                    #expect(rows[name]?.removed == true)
                    #expect(rows[name]?.enabled == false)
                }
                #expect(rows["echo"]?.timeout == 7)
                #expect(rows["echo"]?.requiresConfirmation == true)

                // A second sync does not count them as removed again.
                #expect(try await daemon.sync(server).toolsRemoved == 0)
                try await daemon.waitForBackgroundSyncs(server)

                // Back to the demo server: the tools return with the operator's choices.
                let demoConfig = try TestDaemon.serverConfig(command: TestPaths.demoServer, args: [], env: [:])
                try await daemon.execute("UPDATE mcp_servers SET config = '\(demoConfig)'::jsonb WHERE id = '\(server.id)'")
                server.configJSON = demoConfig
                #expect(try await daemon.sync(server).toolsOffered == 4)
                rows = try await tools(daemon, server)
                #expect(rows.values.allSatisfy { !$0.removed })
                #expect(rows["echo"].map { $0.enabled && $0.timeout == 7 && $0.requiresConfirmation } == true)
                #expect(rows["sleep"].map { !$0.enabled && $0.timeout == 9 } == true, "disabled by the operator before removal")
                #expect(rows["fail"]?.enabled == true)
            }
        }
    }
}
