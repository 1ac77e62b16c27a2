import Foundation
import Testing

@testable import AstraMCP

/// A server that cannot start fails its own executions, fast, and nobody else's.
@Suite("Servers that do not start", .timeLimit(.minutes(3)))
struct ServerStartFailureTests {
    @Test("a missing command fails its executions; another server's executions are unaffected")
    func missingCommand() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                let broken = try await daemon.registerServer("broken", command: "/nonexistent/x")
                try await daemon.addTool("anything", to: broken)
                let demo = try await daemon.registerDemoServer()
                try await daemon.sync(demo)

                let (ids, _) = try await daemon.runToCompletion {
                    var ids: [UUID] = []
                    for n in 0..<3 { ids.append(try await daemon.enqueue("anything", on: broken, arguments: #"{"n":\#(n)}"#)) }
                    ids += try await daemon.enqueueMany("echo", on: demo, count: 10, argumentsSQL: "jsonb_build_object('text', 'n' || g)")
                    return ids
                }
                let rows = try await ExecutionRow.fetchAll(ids, from: daemon.database, logger: daemon.logger)
                for id in ids.prefix(3) {
                    let row = try #require(rows[id])
                    #expect(row.status == "error")
                    let message = row.errorMessage ?? ""
                    #expect(message.contains("cannot start '/nonexistent/x'"), "\(message)")
                    #expect(message.contains("not found"), "\(message)")
                }
                for id in ids.dropFirst(3) {
                    #expect(rows[id]?.status == "success")
                }
            }
        }
    }

    @Test("a sync of a server that cannot start records the error on the server's row")
    func syncRecordsError() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                let broken = try await daemon.registerServer("broken", command: "/nonexistent/x")
                await #expect(throws: MCPSessionError.self) { try await daemon.sync(broken) }
                let rows = try await daemon.database.query(
                    "SELECT connection_status, last_error FROM mcp_servers WHERE id = \(broken.id)", logger: daemon.logger
                ).collect()
                let (status, error) = try rows[0].decode((String, String?).self)
                #expect(status == "error")
                #expect(error?.contains("/nonexistent/x") == true)
            }
        }
    }

    @Test("a server exiting during initialize: the error carries the tail of its stderr")
    func exitDuringInitialize() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                let dying = try await daemon.registerDemoServer("dying", args: ["--exit-during-initialize"])
                try await daemon.addTool("echo", to: dying)
                let row = try await daemon.run("echo", on: dying, arguments: #"{"text":"hi"}"#)
                #expect(row.status == "error")
                let message = row.errorMessage ?? ""
                #expect(message.contains("server 'dying' exited during initialize"), "\(message)")
                #expect(message.contains("; stderr: "), "\(message)")
                #expect(message.contains("--exit-during-initialize: exiting with status 3"), "\(message)")
            }
        }
    }
}
