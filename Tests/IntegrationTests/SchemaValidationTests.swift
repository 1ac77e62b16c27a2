import Foundation
import Testing

@testable import AstraMCP

/// Arguments checked against the tool's inputSchema before a call; structuredContent against
/// its outputSchema after one.
@Suite("Schema validation", .timeLimit(.minutes(2)))
struct SchemaValidationTests {
    @Test("arguments that break the tool's inputSchema end error before anything is sent, naming the path and the rule")
    func invalidArguments() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                let server = try await daemon.registerFastServer()
                try await daemon.sync(server)
                #expect(try await daemon.run("add", on: server, arguments: #"{"a": 2, "b": 3}"#).outputText == "5")
                let wrongType = try await daemon.run("add", on: server, arguments: #"{"a": "two", "b": 3}"#)
                #expect(wrongType.status == "error")
                #expect(wrongType.errorMessage == "input_parameters do not match the inputSchema of tool 'add': $.a: type 'integer', got string",
                        "\(wrongType.errorMessage ?? "")")
                #expect(wrongType.outputJSON == nil, "the server never saw it")
                let missing = try await daemon.run("add", on: server, arguments: #"{"a": 1, "c": 3}"#)
                #expect(missing.status == "error")
                #expect(missing.errorMessage?.contains("required") == true && missing.errorMessage?.contains("and 1 more") == true,
                        "\(missing.errorMessage ?? "")")
            }
        }
    }

    @Test("a result whose structuredContent breaks the tool's outputSchema ends error, keeping the result")
    func invalidStructuredContent() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                let server = try await daemon.registerServer(
                    "wrong-output", command: "python3", args: ["-u", TestPaths.fastServer, "--output-schema-string"])
                try await daemon.sync(server)
                let broken = try await daemon.run("add", on: server, arguments: #"{"a": 2, "b": 3}"#)
                #expect(broken.status == "error")
                #expect(broken.errorMessage == "the structuredContent of tool 'add' does not match its outputSchema: $.sum: type 'string', got integer",
                        "\(broken.errorMessage ?? "")")
                #expect(broken.outputText == "5", "the result is kept for whoever looks into it")
            }
        }
    }

    @Test("a tool whose schema cannot be used (a $ref to another host) ends its executions error, and nothing is fetched")
    func unusableSchema() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                let server = try await daemon.registerServer("remote-ref", command: "python3", args: ["-u", TestPaths.fastServer, "--remote-ref-schema"])
                try await daemon.sync(server)
                let row = try await daemon.run("add", on: server, arguments: #"{"a": 1, "b": 2}"#)
                #expect(row.status == "error")
                #expect(row.errorMessage?.hasPrefix("tool 'add' has an inputSchema the daemon cannot use (") == true, "\(row.errorMessage ?? "")")
            }
        }
    }

    @Test("schema_revision changes when a tool's schemas change, and only then (what the daemon's cache is keyed by)")
    func revision() async throws {
        try await TestDatabase.with { db in
            let (team, server, tool) = (UUID(), UUID(), UUID())
            try await db.execute("INSERT INTO mcp_servers (id, team_id, name, server_type, config) VALUES ('\(server)', '\(team)', 's', 'stdio', '{}')")
            try await db.execute("INSERT INTO mcp_tools (id, server_id, tool_name, input_schema) VALUES ('\(tool)', '\(server)', 't', '{\"type\": \"object\"}')")
            func revision() async throws -> Int64 {
                try await db.withConnection { connection in
                    try await connection.query("SELECT schema_revision FROM mcp_tools WHERE id = \(tool)", logger: TestLogging.logger).collect()[0].decode(Int64.self)
                }
            }
            #expect(try await revision() == 1)
            try await db.execute("UPDATE mcp_tools SET input_schema = '{\"type\":   \"object\"}', description = 'same schema' WHERE id = '\(tool)'")
            #expect(try await revision() == 1, "the same schema (jsonb equality) keeps the revision")
            try await db.execute("UPDATE mcp_tools SET input_schema = '{\"type\": \"object\", \"required\": [\"q\"]}' WHERE id = '\(tool)'")
            #expect(try await revision() == 2)
            try await db.execute("UPDATE mcp_tools SET output_schema = '{\"type\": \"object\"}' WHERE id = '\(tool)'")
            #expect(try await revision() == 3)
        }
    }
}
