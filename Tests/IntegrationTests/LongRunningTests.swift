import Foundation
import PostgresNIO
import Testing

@testable import AstraMCP

/// `Tests/Fixtures/long_running_server.py` (the official Python SDK), and what it saw.
struct LongRunningServer: Sendable {
    /// Where the server writes one JSON file per event (started, cancelled, finished).
    let record: String

    init() {
        record = FileManager.default.temporaryDirectory.appendingPathComponent("astra-long-\(UUID().uuidString.prefix(8))").path
    }

    /// The JSON-RPC request id of the call carrying `execution` as its progress token, once the
    /// server has started it.
    func requestID(of execution: UUID) -> String? {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: record)) ?? []
        for file in files where file.hasPrefix("started-") && file.hasSuffix(".json") {
            guard let data = FileManager.default.contents(atPath: record + "/" + file),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                (object["progress_token"] as? String) == execution.uuidString.lowercased()
            else { continue }
            return object["request_id"] as? String
        }
        return nil
    }

    /// Whether the server stopped request `id` on `notifications/cancelled`.
    func wasCancelled(requestID id: String) -> Bool {
        FileManager.default.fileExists(atPath: "\(record)/cancelled-\(id).json")
    }

    /// How many calls the server started.
    var startedCount: Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: record)) ?? []).filter { $0.hasPrefix("started-") && $0.hasSuffix(".json") }.count
    }
}

extension TestDaemon {
    /// The long-running fixture over stdio, synced.
    func registerLongRunningServer(_ server: LongRunningServer, name: String = "long") async throws -> ServerDescriptor {
        let python = TestPaths.repositoryRoot.appendingPathComponent(".venv/bin/python").path
        try TestPaths.requireExecutable(python, hint: "run `bash scripts/setup.sh` to create the venv with the `mcp` package")
        let descriptor = try await registerServer(
            name, command: python,
            args: ["-u", TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures/long_running_server.py").path, "--record", server.record])
        try await sync(descriptor)
        return descriptor
    }

    /// Asks for a cancel the way a backend does.
    func cancel(_ execution: UUID) async throws -> Bool {
        try await database.query("SELECT coalesce(astra_mcpd_cancel_execution(\(execution)), false)", logger: logger).collect()[0].decode(Bool.self)
    }

    /// Waits for the execution's row to end, and returns it.
    func finished(_ execution: UUID, within limit: Duration = .seconds(60)) async throws -> ExecutionRow {
        try await eventually(limit, "execution \(execution) to end") { [self] in
            try await self.execution(execution).completedAt != nil
        }
        return try await self.execution(execution)
    }
}

/// Long-running tools: cancellation asked for with SQL, progress written to the row, and
/// timeouts that follow progress under a hard cap.
@Suite("Long-running tools", .timeLimit(.minutes(3)))
struct LongRunningTests {
    enum Transport: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case stdio, http
        var testDescription: String { rawValue }
    }

    /// Runs `body` with the long-running fixture registered over `transport`.
    func withServer(
        _ transport: Transport, configure: @escaping (inout DaemonConfiguration) -> Void = { _ in },
        _ body: @escaping @Sendable (TestDaemon, ServerDescriptor, LongRunningServer) async throws -> Void
    ) async throws {
        let fixture = LongRunningServer()
        defer { try? FileManager.default.removeItem(atPath: fixture.record) }
        try await TestDatabase.with { db in
            try await TestDaemon.with(db, configure: configure) { daemon in
                switch transport {
                case .stdio:
                    try await body(daemon, try await daemon.registerLongRunningServer(fixture), fixture)
                case .http:
                    let http = PythonHTTPServer(longRunningRecord: fixture.record)
                    try await http.start()
                    defer { http.kill() }
                    let server = try await daemon.registerHTTPServer("long-http", url: http.url)
                    try await daemon.sync(server)
                    try await body(daemon, server, fixture)
                }
            }
        }
    }

    @Test("a running call is cancelled at its server with its request id, and ends cancelled", arguments: Transport.allCases)
    func cancelRunning(_ transport: Transport) async throws {
        try await withServer(transport) { daemon, server, fixture in
            let id = try await daemon.enqueue("wait", on: server, arguments: #"{"seconds": 60}"#)
            try await eventually(.seconds(30), "the server to start the call") { fixture.requestID(of: id) != nil }
            #expect(try await daemon.cancel(id))
            let row = try await daemon.finished(id, within: .seconds(20))
            #expect(row.status == "cancelled")
            #expect(row.errorMessage == "cancelled at the backend's request")
            #expect(!row.queued)
            let requestID = try #require(fixture.requestID(of: id))
            try await eventually(.seconds(10), "the server to stop request \(requestID)") { fixture.wasCancelled(requestID: requestID) }
            #expect(try await daemon.cancel(id) == false, "an ended execution cannot be cancelled again")
            // The session goes on.
            let after = try await daemon.run("work", on: server, arguments: #"{"seconds": 0.1, "every": 0.1}"#)
            #expect(after.status == "success")
        }
    }

    @Test("a pending execution the daemon hears cancelled ends cancelled at once, without being sent")
    func cancelPending() async throws {
        let fixture = LongRunningServer()
        defer { try? FileManager.default.removeItem(atPath: fixture.record) }
        try await TestDatabase.with { db in
            // One call at a time per server: the second execution waits, pending, while the first runs.
            try await TestDaemon.with(db, configure: { $0.maxInFlightPerServer = 1 }) { daemon in
                let registered = try await daemon.registerLongRunningServer(fixture)
                let blocker = try await daemon.enqueue("wait", on: registered, arguments: #"{"seconds": 60}"#)
                try await eventually(.seconds(30), "the first call to start") { fixture.requestID(of: blocker) != nil }
                let waiting = try await daemon.enqueue("wait", on: registered, arguments: #"{"seconds": 60}"#)
                #expect(try await daemon.execution(waiting).status == "pending")
                #expect(try await daemon.cancel(waiting))
                let row = try await daemon.finished(waiting, within: .seconds(20))
                #expect(row.status == "cancelled")
                #expect(row.errorMessage == "cancelled before it was sent")
                #expect(fixture.requestID(of: waiting) == nil, "the server never saw it")
                #expect(try await daemon.cancel(blocker))
                #expect(try await daemon.finished(blocker).status == "cancelled")
            }
        }
    }

    @Test("the claim ends an execution whose cancel came while no daemon listened, without sending it")
    func cancelBeforeClaim() async throws {
        let fixture = LongRunningServer()
        defer { try? FileManager.default.removeItem(atPath: fixture.record) }
        try await TestDatabase.with { db in
            let server = try await TestDaemon.with(db) { daemon in try await daemon.registerLongRunningServer(fixture) }
            // No daemon runs now: nobody hears the cancel's notification.
            let id = try await db.withConnection { connection in
                let rows = try await connection.query(
                    """
                    INSERT INTO mcp_tool_executions (user_id, team_id, server_id, tool_id, input_parameters)
                    SELECT gen_random_uuid(), s.team_id, s.id, t.id, '{"seconds": 60}'::jsonb
                    FROM mcp_tools t JOIN mcp_servers s ON s.id = t.server_id
                    WHERE s.id = \(server.id) AND t.tool_name = 'wait' RETURNING id
                    """, logger: TestLogging.logger
                ).collect()
                let id = try rows[0].decode(UUID.self)
                let cancelled = try await connection.query("SELECT astra_mcpd_cancel_execution(\(id))", logger: TestLogging.logger).collect()
                #expect(try cancelled[0].decode(Bool?.self) == true)
                return id
            }
            try await TestDaemon.with(db) { daemon in
                let row = try await daemon.finished(id)
                #expect(row.status == "cancelled")
                #expect(row.errorMessage == "cancelled before it was sent")
                #expect(fixture.startedCount == 0, "the server never saw it")
            }
        }
    }

    @Test("progress reports are written to the row and announced with its id", arguments: Transport.allCases)
    func progress(_ transport: Transport) async throws {
        try await withServer(transport, configure: { $0.progressInterval = .zero }) { daemon, server, _ in
            let database = daemon.database
            let id = try await withDeadline(.seconds(60), "a progress notification") {
                try await database.withConnection { listener in
                    try await listener.listen(on: "astra_mcpd_progress") { notifications in
                        let id = try await daemon.enqueue("work", on: server, arguments: #"{"seconds": 30, "every": 0.2}"#)
                        for try await notification in notifications where notification.payload.split(separator: ",").contains(Substring(id.uuidString.lowercased())) {
                            break
                        }
                        return id
                    }
                }
            }
            let rows = try await database.query(
                "SELECT progress, progress_total, progress_message, progress_updated_at IS NOT NULL FROM mcp_tool_executions WHERE id = \(id)",
                logger: daemon.logger
            ).collect()
            let (progress, total, message, stamped) = try rows[0].decode((Double?, Double?, String?, Bool).self)
            #expect((progress ?? 0) > 0)
            #expect(total == 30)
            #expect(message?.hasSuffix("of 30 s") == true, "\(message ?? "nil")")
            #expect(stamped)
            #expect(try await daemon.cancel(id))
            #expect(try await daemon.finished(id).status == "cancelled")
        }
    }

    @Test("progress extends timeout_seconds; silence ends the call as timeout; max_duration_seconds holds", arguments: Transport.allCases)
    func timeoutsFollowProgress(_ transport: Transport) async throws {
        try await withServer(transport) { daemon, server, _ in
            try await daemon.execute(
                "UPDATE mcp_tools SET timeout_seconds = 1, is_idempotent = false WHERE server_id = '\(server.id)'")
            try await daemon.execute("UPDATE mcp_tools SET max_duration_seconds = 2 WHERE server_id = '\(server.id)' AND tool_name = 'wait'")

            // Reports every 0.3 s for 2.5 s: well past its 1 s timeout, and it succeeds.
            let worked = try await daemon.run("work", on: server, arguments: #"{"seconds": 2.5, "every": 0.3}"#)
            #expect(worked.status == "success", "\(worked.errorMessage ?? "")")
            #expect(worked.outputText == "worked 2.5 s")
            #expect((worked.durationMilliseconds ?? 0) >= 2500)

            // Reports for 1.5 s, then goes silent: a timeout, after it had run past 1 s.
            let stalled = try await daemon.run("stall", on: server, arguments: #"{"report_for": 1.5}"#)
            #expect(stalled.status == "timeout")
            #expect(stalled.errorMessage == "tool 'stall' gave no sign of life for 1 s (timeout_seconds: no reply or progress)")
            #expect((stalled.durationMilliseconds ?? 0) >= 1500)

            // The cap: `wait` is capped at 2 s whatever its timeout (set far above it here).
            try await daemon.execute("UPDATE mcp_tools SET timeout_seconds = 600 WHERE server_id = '\(server.id)' AND tool_name = 'wait'")
            let capped = try await daemon.run("wait", on: server, arguments: #"{"seconds": 60}"#)
            #expect(capped.status == "timeout")
            #expect(capped.errorMessage == "tool 'wait' ran longer than its limit of 2 s (max_duration_seconds)")
            #expect((capped.durationMilliseconds ?? 0) >= 2000)
        }
    }
}
