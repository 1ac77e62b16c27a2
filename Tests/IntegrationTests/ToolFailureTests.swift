import Foundation
import Testing

@testable import AstraMCP

/// How an execution ends when the tool, the row or its arguments are wrong.
@Suite("Tool failures end the execution, not the daemon", .timeLimit(.minutes(3)))
struct ToolFailureTests {
    @Test("isError: status error, error_message is the tool's message, output_result kept with isError true")
    func toolError() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                let demo = try await daemon.registerDemoServer()
                try await daemon.sync(demo)
                let row = try await daemon.run("fail", on: demo, arguments: #"{"message":"the disk is on fire"}"#)
                #expect(row.status == "error")
                #expect(row.errorMessage == "the disk is on fire")
                #expect(row.output?["isError"] as? Bool == true)
                #expect(row.outputText == "the disk is on fire")
                #expect(row.completedAt != nil)
                #expect(!row.queued)
            }
        }
    }

    @Test("a disabled tool is refused without calling the server")
    func disabledTool() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                let demo = try await daemon.registerDemoServer()
                try await daemon.sync(demo)
                try await daemon.execute("UPDATE mcp_tools SET is_enabled = false WHERE tool_name = 'echo'")
                let row = try await daemon.run("echo", on: demo, arguments: #"{"text":"hi"}"#)
                #expect(row.status == "error")
                #expect(row.errorMessage == "tool 'echo' is disabled")
                #expect(row.outputJSON == nil)
            }
        }
    }

    @Test("a tool the server no longer offers is refused as removed")
    func removedTool() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                let demo = try await daemon.registerDemoServer()
                try await daemon.sync(demo)
                // The backend queued a call to a tool the last sync found gone.
                try await daemon.addTool("retired", to: demo)
                try await daemon.sync(demo)
                let row = try await daemon.run("retired", on: demo, arguments: "{}")
                #expect(row.status == "error")
                #expect(row.errorMessage == "tool 'retired' is no longer offered by server 'demo'")
            }
        }
    }

    @Test("a tool the server does not know: the server's JSON-RPC error becomes the error message")
    func unknownTool() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                let fast = try await daemon.registerFastServer()
                try await daemon.sync(fast)
                try await daemon.addTool("multiply", to: fast)
                let row = try await daemon.run("multiply", on: fast, arguments: #"{"a":2,"b":3}"#)
                #expect(row.status == "error")
                // The server answers with a JSON-RPC error; or, when the sync that follows every
                // (re)connect ran first, the tool was already disabled as no longer offered.
                let message = row.errorMessage ?? ""
                #expect(message.contains("tools/call failed") || message.contains("is no longer offered"), "message: \(message)")
            }
        }
    }

    @Test("arguments that are not a JSON object are refused", arguments: [#"["not","an","object"]"#, "42", "null"])
    func nonObjectArguments(_ arguments: String) async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                let demo = try await daemon.registerDemoServer()
                try await daemon.sync(demo)
                let row = try await daemon.run("echo", on: demo, arguments: arguments)
                #expect(row.status == "error")
                #expect(row.errorMessage?.hasPrefix("input_parameters must be a JSON object") == true, "\(row.errorMessage ?? "nil")")
            }
        }
    }

    @Test("a call over the tool's max_duration_seconds ends as timeout, though it reports progress, and the session stays usable")
    func timeout() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                let demo = try await daemon.registerDemoServer()
                try await daemon.sync(demo)
                try await daemon.execute(
                    "UPDATE mcp_tools SET timeout_seconds = 1, max_duration_seconds = 1, is_idempotent = false WHERE tool_name = 'sleep'")
                let started = ContinuousClock.now
                let row = try await daemon.run("sleep", on: demo, arguments: #"{"seconds":10}"#)
                let elapsed = ContinuousClock.now - started
                #expect(row.status == "timeout")
                #expect(row.errorMessage == "tool 'sleep' ran longer than its limit of 1 s (max_duration_seconds)")
                #expect(elapsed >= .seconds(1))
                #expect(elapsed < .seconds(8), "the timeout fired before the tool answered")

                let after = try await daemon.run("echo", on: demo, arguments: #"{"text":"still here"}"#)
                #expect(after.status == "success")
                #expect(after.outputText == "still here")
            }
        }
    }

    @Test("arguments the tool rejects come back as a tool error")
    func invalidArgumentValues() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                let demo = try await daemon.registerDemoServer()
                try await daemon.sync(demo)
                let row = try await daemon.run("add", on: demo, arguments: #"{"a":"twenty","b":22}"#)
                #expect(row.status == "error")
                #expect(row.errorMessage?.isEmpty == false)
            }
        }
    }
}
