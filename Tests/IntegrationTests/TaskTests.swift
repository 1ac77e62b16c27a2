import Foundation
import PostgresNIO
import Testing

@testable import AstraMCP

/// `Tests/Fixtures/task_server.py`: our own Streamable HTTP server that speaks the 2025-11-25
/// task messages, and what it ran. It lives outside any daemon, so a task survives a daemon's death.
final class TaskServer: Sendable {
    private let fixture = PythonFixture(recordPrefix: "astra-tasks")

    var url: String { "http://127.0.0.1:\(fixture.port)/mcp" }

    func start() async throws {
        try await fixture.start("task_server.py", ["\(fixture.port)", "--record", fixture.record])
    }

    func stop() { fixture.stop() }

    /// How many times a tool ran (one file per task started).
    var runs: Int { fixture.files("run-").count }
    /// Whether tasks/cancel stopped task `id`.
    func wasCancelled(_ id: String) -> Bool { fixture.files("cancelled-\(id)").count == 1 }

    /// Runs `body` with the task server up, registered and synced in a running daemon.
    static func withRegistered(
        _ body: @escaping @Sendable (TaskServer, TestDatabase, TestDaemon, ServerDescriptor) async throws -> Void
    ) async throws {
        let tasks = TaskServer()
        try await tasks.start()
        defer { tasks.stop() }
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                let server = try await daemon.registerHTTPServer("tasks", url: tasks.url)
                try await daemon.sync(server)
                try await body(tasks, db, daemon, server)
            }
        }
    }
}

extension TestDatabase {
    func task(of execution: UUID) async throws -> (id: String?, status: String?) {
        try await withConnection { connection in
            let rows = try await connection.query(
                "SELECT task_id, task_status FROM mcp_tool_executions WHERE id = \(execution)", logger: TestLogging.logger
            ).collect()
            return try rows[0].decode((String?, String?).self)
        }
    }
}

/// MCP Tasks: task-augmented calls, polled to their result, cancelled with tasks/cancel, and
/// resumed by the next daemon after a crash without running the tool again.
@Suite("MCP Tasks", .timeLimit(.minutes(3)))
struct TaskTests {
    @Test("a tool that supports tasks is called as a task, polled, and its result taken; the sync stores execution and the tool runs once")
    func taskAugmentedCall() async throws {
        try await TaskServer.withRegistered { tasks, db, daemon, server in
                let support = try await daemon.database.query(
                    "SELECT tool_name, execution->>'taskSupport' FROM mcp_tools WHERE server_id = \(server.id) ORDER BY tool_name", logger: daemon.logger
                ).collect().map { try $0.decode((String, String?).self) }
                #expect(support.map(\.0) == ["must_task", "slow_job"])
                #expect(support.map(\.1) == ["required", "optional"])

                let row = try await daemon.run("slow_job", on: server, arguments: #"{"seconds": 0.5}"#)
                #expect(row.status == "success", "\(row.errorMessage ?? "")")
                #expect(row.outputText == "job done after 0.5 s")
                let (taskID, status) = try await db.task(of: row.id)
                #expect(taskID != nil)
                #expect(status == "completed")
                let required = try await daemon.run("must_task", on: server, arguments: #"{"seconds": 0.2}"#)
                #expect(required.status == "success", "\(required.errorMessage ?? "")")
                #expect(tasks.runs == 2, "each tool ran once")
        }
    }

    @Test("a tool that requires a task, on a server without task support, fails with a clear error")
    func requiredWithoutSupport() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                let server = try await daemon.registerServer("fast", command: "python3", args: ["-u", TestPaths.fastServer, "--task-required"])
                try await daemon.sync(server)
                let row = try await daemon.run("add", on: server, arguments: #"{"a": 1, "b": 2}"#)
                #expect(row.status == "error")
                #expect(row.errorMessage == "tool 'add' must be called as a task (execution.taskSupport: required), but server 'fast' does not declare tasks.requests.tools.call")
            }
        }
    }

    @Test("cancelling a task-augmented call sends tasks/cancel and ends the execution cancelled")
    func cancelTask() async throws {
        try await TaskServer.withRegistered { tasks, db, daemon, server in
                let id = try await daemon.enqueue("slow_job", on: server, arguments: #"{"seconds": 60}"#)
                try await eventually(.seconds(30), "the task to be stored") { try await db.task(of: id).id != nil }
                let taskID = try #require(try await db.task(of: id).id)
                #expect(try await daemon.cancel(id))
                let row = try await daemon.finished(id, within: .seconds(20))
                #expect(row.status == "cancelled")
                #expect(tasks.wasCancelled(taskID), "the server got tasks/cancel for \(taskID)")
                #expect(tasks.runs == 1)
        }
    }

    @Test("SIGKILL while a task runs: the next daemon resumes the same task, the tool runs once, and the result arrives")
    func resumedAfterCrash() async throws {
        let tasks = TaskServer()
        try await tasks.start()
        defer { tasks.stop() }
        try await TestDatabase.with { db in
            let environment = [
                "ASTRA_MCPD_DATABASE_URL": db.url, "ASTRA_MCPD_LOG_TARGET": "stderr", "ASTRA_MCPD_POLL_INTERVAL_SECONDS": "1",
                "ASTRA_MCPD_LEASE_SECONDS": "2", "ASTRA_MCPD_SYNC_ON_START": "true",
            ]
            let team = UUID()
            try await db.execute("INSERT INTO mcp_servers (team_id, name, server_type, config) VALUES ('\(team)', 'tasks', 'http', '{\"url\": \"\(tasks.url)\"}')")
            let first = try DaemonProcess(["run"], environment: environment)
            defer { first.kill() }
            try await eventually(.seconds(30), "the startup sync; stderr: \(first.standardError)") {
                try await db.withConnection { connection in
                    try await connection.query("SELECT count(*)::int FROM mcp_tools WHERE tool_name = 'slow_job'", logger: TestLogging.logger)
                        .collect()[0].decode(Int.self) == 1
                }
            }
            // Not idempotent: only the stored task lets it survive the crash.
            try await db.execute("UPDATE mcp_tools SET is_idempotent = false")
            let id = try await db.withConnection { connection in
                try await connection.query(
                    """
                    INSERT INTO mcp_tool_executions (user_id, team_id, server_id, tool_id, input_parameters)
                    SELECT gen_random_uuid(), s.team_id, s.id, t.id, '{"seconds": 4}'::jsonb
                    FROM mcp_tools t JOIN mcp_servers s ON s.id = t.server_id WHERE t.tool_name = 'slow_job' RETURNING id
                    """, logger: TestLogging.logger
                ).collect()[0].decode(UUID.self)
            }
            try await eventually(.seconds(30), "the task to be stored; stderr: \(first.standardError)") { try await db.task(of: id).id != nil }
            let taskID = try await db.task(of: id).id
            first.kill()
            _ = try await first.waitForExit()

            let second = try DaemonProcess(["run"], environment: environment)
            defer { second.kill() }
            let (status, output, attempts) = try await withDeadline(.seconds(60), "the resumed execution to end; stderr: \(second.standardError)") {
                while true {
                    let row = try await db.withConnection { connection in
                        try await connection.query(
                            "SELECT status, output_result->'content'->0->>'text', attempts FROM mcp_tool_executions WHERE id = \(id)",
                            logger: TestLogging.logger
                        ).collect()[0].decode((String, String?, Int32).self)
                    }
                    if !["pending", "running"].contains(row.0) { return row }
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            #expect(status == "success", "stderr: \(second.standardError)")
            #expect(output == "job done after 4 s")
            #expect(attempts == 2, "the second attempt resumed the first one's task")
            #expect(try await db.task(of: id).id == taskID, "the same task")
            #expect(tasks.runs == 1, "the tool ran once")
            second.terminate()
            _ = try await second.waitForExit()
        }
    }
}
