@testable import AstraMCPDemo
import Foundation
import Testing

@testable import AstraMCP

/// Executions over MCP's Streamable HTTP transport, against servers from the official Python SDK.
@Suite("Streamable HTTP servers", .timeLimit(.minutes(2)))
struct StreamableHTTPTests {
    @Test("calls succeed whether the server replies with SSE or with JSON", arguments: [PythonHTTPServer.Mode.streamableSSE, .streamableJSON])
    func calls(mode: PythonHTTPServer.Mode) async throws {
        try await PythonHTTPServer.with(mode: mode) { http in
            try await TestDatabase.with { db in
                try await TestDaemon.with(db) { daemon in
                    let server = try await daemon.registerHTTPServer("remote", url: http.url)
                    let synced = try await daemon.sync(server)
                    #expect(synced.toolsOffered == 4)
                    let (ids, _) = try await daemon.runToCompletion {
                        try await daemon.enqueueMany("add", on: server, count: 40, argumentsSQL: "jsonb_build_object('a', g, 'b', 1)")
                    }
                    for id in ids {
                        let row = try await daemon.execution(id)
                        #expect(row.status == "success", "\(row.errorMessage ?? "")")
                    }
                    let echo = try await daemon.run("echo", on: server, arguments: #"{"text":"over http"}"#)
                    #expect(echo.status == "success", "\(echo.errorMessage ?? "")")
                    #expect(echo.outputJSON?.contains("over http") == true)
                }
            }
        }
    }

    @Test("our Swift demo server over Streamable HTTP (--http): concurrent calls succeed, a call over its cap ends as timeout")
    func swiftDemoServer() async throws {
        try TestPaths.requireExecutable(TestPaths.demoServer, hint: "build it with 'swift build --product astra-mcpd-demo-server'")
        let http = try await DemoHTTPServerProcess.start(executable: TestPaths.demoServer)
        defer { http.stop() }
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                let server = try await daemon.registerHTTPServer("swift-http", url: http.url)
                #expect(try await daemon.sync(server).toolsOffered == 4)
                let (ids, _) = try await daemon.runToCompletion {
                    try await daemon.enqueueMany("add", on: server, count: 50, argumentsSQL: "jsonb_build_object('a', g, 'b', 1)")
                }
                let rows = try await ExecutionRow.fetchAll(ids, from: daemon.database, logger: daemon.logger)
                #expect(rows.values.allSatisfy { $0.status == "success" }, "\(rows.values.compactMap(\.errorMessage).prefix(3))")
                // `sleep` reports progress, which extends timeout_seconds: the cap ends it.
                try await daemon.execute(
                    "UPDATE mcp_tools SET timeout_seconds = 1, max_duration_seconds = 1 WHERE server_id = '\(server.id)' AND tool_name = 'sleep'")
                let slow = try await daemon.run("sleep", on: server, arguments: #"{"seconds": 5}"#)
                #expect(slow.status == "timeout", "\(slow.errorMessage ?? "")")
                let after = try await daemon.run("echo", on: server, arguments: #"{"text": "still fine"}"#)
                #expect(after.outputText == "still fine")
            }
        }
    }

    @Test("a server restarted mid-run: the old session 404s, one new session serves the next executions")
    func restartedServer() async throws {
        try await PythonHTTPServer.with { http in
            try await TestDatabase.with { db in
                try await TestDaemon.with(db, configure: { $0.retry.maxAttempts = 1 }) { daemon in
                    let server = try await daemon.registerHTTPServer("remote", url: http.url)
                    try await daemon.sync(server)
                    #expect(try await daemon.run("add", on: server, arguments: #"{"a":1,"b":2}"#).status == "success")
                    http.kill()
                    try await http.start()
                    // Twenty at once: each gets the 404, one of them starts the new session, the
                    // others wait for it; none is retried.
                    let (ids, _) = try await daemon.runToCompletion {
                        try await daemon.enqueueMany("add", on: server, count: 20, argumentsSQL: "jsonb_build_object('a', g, 'b', 1)")
                    }
                    let rows = try await ExecutionRow.fetchAll(ids, from: daemon.database, logger: daemon.logger)
                    #expect(rows.values.allSatisfy { $0.status == "success" }, "\(rows.values.compactMap(\.errorMessage).prefix(3))")
                }
            }
        }
    }

    @Test("an unreachable server: the execution ends as error naming the server")
    func unreachable() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db, configure: { $0.retry.maxAttempts = 1 }) { daemon in
                let server = try await daemon.registerHTTPServer("nowhere", url: "http://127.0.0.1:1/mcp")
                try await daemon.addTool("add", to: server)
                let row = try await daemon.run("add", on: server, arguments: #"{"a":1,"b":2}"#)
                #expect(row.status == "error")
                #expect(row.errorMessage?.contains("nowhere") == true, "\(row.errorMessage ?? "")")
            }
        }
    }
}

/// The streams of Streamable HTTP beyond one POST's reply: resuming a cut reply, and the
/// server's own GET stream.
@Suite("Streamable HTTP streams", .timeLimit(.minutes(2)))
struct StreamableHTTPStreamTests {
    @Test("a reply stream the server cuts is resumed with Last-Event-ID and the call gets its answer")
    func resumesCutReply() async throws {
        try await PythonHTTPServer.with(mode: .streamableResumable) { http in
            try await TestDatabase.with { db in
                try await TestDaemon.with(db, configure: { $0.retry.maxAttempts = 1 }) { daemon in
                    let server = try await daemon.registerHTTPServer("resumable", url: http.url)
                    try await daemon.sync(server)
                    let row = try await daemon.run("cut_then_echo", on: server, arguments: #"{"text":"after the cut"}"#)
                    #expect(row.status == "success", "\(row.errorMessage ?? "")")
                    #expect(row.outputText == "after the cut")
                    #expect(row.attempts == 1, "answered by resuming, not by a retry")
                }
            }
        }
    }

    @Test("a stream closed after its priming event with retry: 500 is reconnected with GET after the wait, and the call gets its answer")
    func honoursRetryInterval() async throws {
        try await PythonHTTPServer.with(mode: .streamableResumable, extraArguments: ["--retry", "500"]) { http in
            try await TestDatabase.with { db in
                try await TestDaemon.with(db, configure: { $0.retry.maxAttempts = 1 }) { daemon in
                    let server = try await daemon.registerHTTPServer("polling", url: http.url)
                    try await daemon.sync(server)
                    let row = try await daemon.run("cut_then_echo", on: server, arguments: #"{"text":"after 500 ms"}"#)
                    #expect(row.status == "success", "\(row.errorMessage ?? "")")
                    #expect(row.outputText == "after 500 ms")
                    #expect(row.attempts == 1)
                    // The answer is ready 350 ms after the call; only a client that waited the
                    // server's 500 ms before its GET takes longer than that.
                    #expect((row.durationMilliseconds ?? 0) >= 500, "\(row.durationMilliseconds ?? 0) ms")
                }
            }
        }
    }

    @Test(
        "a server that closes every kept-alive connection as soon as a response is done: no call fails, none is retried",
        arguments: [false, true])
    func serverClosesIdleConnections(idempotent: Bool) async throws {
        try await PythonHTTPServer.with(mode: .streamableJSON, extraArguments: ["--keep-alive", "0"]) { http in
            try await TestDatabase.with { db in
                try await TestDaemon.with(db, configure: { $0.retry.maxAttempts = 1 }) { daemon in
                    let server = try await daemon.registerHTTPServer("impatient", url: http.url)
                    try await daemon.sync(server)
                    // Not idempotent: each call gets a connection of its own. Idempotent: calls
                    // reuse connections, and one that meets a dead connection is sent again by
                    // the transport, not by a retry.
                    try await daemon.execute("UPDATE mcp_tools SET is_idempotent = \(idempotent) WHERE server_id = '\(server.id)'")
                    for n in 0..<40 {
                        let row = try await daemon.run("add", on: server, arguments: #"{"a": \#(n), "b": 1}"#)
                        #expect(row.status == "success", "call \(n): \(row.errorMessage ?? "")")
                        #expect(row.attempts == 1)
                    }
                }
            }
        }
    }

    @Test(
        "list_changed sent on the server's own GET stream syncs a tool added at runtime",
        arguments: [PythonHTTPServer.Mode.streamableSSE, .streamableJSON])
    func serverStream(mode: PythonHTTPServer.Mode) async throws {
        try await PythonHTTPServer.with(mode: mode) { http in
            try await TestDatabase.with { db in
                try await TestDaemon.with(db) { daemon in
                    let server = try await daemon.registerHTTPServer("announcer", url: http.url)
                    try await daemon.sync(server)
                    let hasLateTool: @Sendable () async throws -> Bool = {
                        try await daemon.database.query(
                            "SELECT count(*)::int FROM mcp_tools WHERE server_id = \(server.id) AND tool_name = 'late_tool'", logger: daemon.logger
                        ).collect()[0].decode(Int.self) == 1
                    }
                    #expect(try await !hasLateTool())
                    // The notification is not part of the call's reply: the server sends it on its
                    // GET stream, which opens just after initialize (so announce again if the
                    // first one came before the stream was open).
                    for attempt in 1...3 {
                        let row = try await daemon.run("announce_tool", on: server, arguments: #"{"name":"late_tool"}"#)
                        #expect(row.status == "success", "\(row.errorMessage ?? "")")
                        do {
                            try await eventually(.seconds(3), "late_tool in mcp_tools") { (try? await hasLateTool()) == true }
                            break
                        } catch where attempt < 3 {}
                    }
                    #expect(try await hasLateTool())
                }
            }
        }
    }
}

/// Executions over the legacy HTTP+SSE transport, against the official Python SDK's server.
@Suite("Legacy HTTP+SSE servers", .timeLimit(.minutes(2)))
struct LegacySSETests {
    @Test("calls succeed over the legacy transport: endpoint event, POSTed messages, replies on the stream")
    func calls() async throws {
        try await PythonHTTPServer.with(mode: .legacySSE) { http in
            try await TestDatabase.with { db in
                try await TestDaemon.with(db) { daemon in
                    let server = try await daemon.registerHTTPServer("legacy", url: http.url, type: "sse")
                    let synced = try await daemon.sync(server)
                    #expect(synced.toolsOffered == 4)
                    let (ids, _) = try await daemon.runToCompletion {
                        try await daemon.enqueueMany("add", on: server, count: 20, argumentsSQL: "jsonb_build_object('a', g, 'b', 1)")
                    }
                    for id in ids {
                        let row = try await daemon.execution(id)
                        #expect(row.status == "success", "\(row.errorMessage ?? "")")
                    }
                }
            }
        }
    }
}

/// A server whose streams misbehave: every failure ends the execution with a clear error, and the
/// session stays usable for the next call.
@Suite("Misbehaving HTTP servers", .timeLimit(.minutes(2)))
struct MisbehavingHTTPTests {
    func run(_ tool: String, timeoutSeconds: Int = 15, expect check: @escaping @Sendable (ExecutionRow) -> Void) async throws {
        try await PythonHTTPServer.with(mode: .misbehaving) { http in
            try await TestDatabase.with { db in
                try await TestDaemon.with(db, configure: { $0.maxMessageBytes = 1 << 20; $0.retry.maxAttempts = 1 }) { daemon in
                    let server = try await daemon.registerHTTPServer("odd", url: http.url)
                    try await daemon.sync(server)
                    try await daemon.execute("UPDATE mcp_tools SET timeout_seconds = \(timeoutSeconds) WHERE server_id = '\(server.id)'")
                    check(try await daemon.run(tool, on: server, arguments: "{}"))
                    #expect(try await daemon.run("ok", on: server, arguments: "{}").status == "success", "the next call still works")
                }
            }
        }
    }

    @Test("an event over the size limit fails the call while streaming")
    func oversizedEvent() async throws {
        try await run("oversized") { row in
            #expect(row.status == "error")
            #expect(row.errorMessage?.contains("exceeds") == true, "\(row.errorMessage ?? "")")
        }
    }

    @Test("a response that never finishes ends as timeout")
    func neverFinishes() async throws {
        try await run("forever", timeoutSeconds: 1) { row in
            #expect(row.status == "timeout", "\(row.errorMessage ?? "")")
        }
    }

    @Test("a stream cut mid-response ends the call with an error")
    func cutStream() async throws {
        try await run("cut") { row in
            #expect(row.status == "error", "\(row.errorMessage ?? "")")
            #expect(row.errorMessage?.contains("odd") == true, "\(row.errorMessage ?? "")")
        }
    }
}
