import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PostgresNIO
import Testing

@testable import AstraMCP

/// `metrics_listen`: the real binary serving `GET /metrics` on a free loopback port, scraped
/// over HTTP and parsed (``PrometheusText``).
@Suite("Prometheus metrics endpoint", .timeLimit(.minutes(3)))
struct MetricsEndpointTests {
    private func environment(_ db: TestDatabase, _ extra: [String: String] = [:]) -> [String: String] {
        [
            "ASTRA_MCPD_DATABASE_URL": db.url,
            "ASTRA_MCPD_LOG_TARGET": "stderr",
            "ASTRA_MCPD_SYNC_ON_START": "false",
            "ASTRA_MCPD_POLL_INTERVAL_SECONDS": "1",
            "ASTRA_MCPD_METRICS_LISTEN": "127.0.0.1:0",
        ].merging(extra) { $1 }
    }

    /// The endpoint's URL, from the line the daemon logs once it listens.
    private func endpoint(of daemon: DaemonProcess) async throws -> String {
        try await eventually(.seconds(30), "the metrics endpoint to listen; stderr: \(daemon.standardError)") {
            daemon.standardError.contains("metrics endpoint listening")
        }
        let match = try #require(daemon.standardError.firstMatch(of: /url=(http:\/\/127\.0\.0\.1:[0-9]+)\/metrics/))
        return String(match.output.1)
    }

    private func get(_ url: String, method: HTTPMethod = .GET) async throws -> (status: UInt, contentType: String?, body: String) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 16 << 20)
        return (response.status.code, response.headers.first(name: "content-type"), String(buffer: body))
    }

    private func scrape(_ base: String) async throws -> PrometheusText {
        let (status, _, body) = try await get(base + "/metrics")
        #expect(status == 200)
        return try PrometheusText(body)
    }

    /// Polls the endpoint until `condition` holds of a scrape; returns that scrape.
    private func scrape(_ base: String, until what: String, _ condition: @escaping @Sendable (PrometheusText) -> Bool) async throws -> PrometheusText {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let text = try await scrape(base)
            if condition(text) { return text }
            guard ContinuousClock.now < deadline else { throw DeadlineExceeded(description: "gave up waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Runs `sql`; a failure says what PostgreSQL said (PSQLError's description is generic).
    private func execute(_ db: TestDatabase, _ sql: String) async throws {
        do {
            try await db.execute(sql)
        } catch {
            throw DeadlineExceeded(description: "\(sql.prefix(80))…: \(String(reflecting: error))")
        }
    }

    private func insertServer(_ db: TestDatabase, team: UUID, name: String, command: String, args: [String]) async throws -> UUID {
        let id = UUID()
        let config = try TestDaemon.serverConfig(command: command, args: args, env: [:])
        try await execute(db, "INSERT INTO mcp_servers (id, team_id, name, server_type, config) VALUES ('\(id)', '\(team)', '\(name)', 'stdio', '\(config)')")
        return id
    }

    private func insertTool(_ db: TestDatabase, server: UUID, name: String, schema: String = "{}") async throws -> UUID {
        let id = UUID()
        try await execute(
            db, "INSERT INTO mcp_tools (id, server_id, tool_name, input_schema, max_attempts) VALUES ('\(id)', '\(server)', '\(name)', '\(schema)', 1)")
        return id
    }

    private func enqueue(_ db: TestDatabase, team: UUID, server: UUID, tool: UUID, arguments: String) async throws -> UUID {
        let id = UUID()
        try await execute(db, """
            INSERT INTO mcp_tool_executions (id, user_id, team_id, server_id, tool_id, input_parameters)
            VALUES ('\(id)', '\(UUID())', '\(team)', '\(server)', '\(tool)', '\(arguments)')
            """)
        return id
    }

    private func unfinished(_ db: TestDatabase) async throws -> Int {
        try await db.withConnection { connection in
            try await connection.query("SELECT count(*) FROM mcp_tool_executions WHERE status IN ('pending', 'running')", logger: TestLogging.logger)
                .collect()[0].decode(Int.self)
        }
    }

    @Test("a scrape counts every execution by status under capped server/tool labels, with no id in it; other paths are 404")
    func scrapeAfterExecutions() async throws {
        try await TestDatabase.with { db in
            let team = UUID()
            let server = try await insertServer(db, team: team, name: "fast", command: "/usr/bin/python3", args: ["-u", TestPaths.fastServer])
            let add = try await insertTool(
                db, server: server, name: "add",
                schema: #"{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"}},"required":["a","b"]}"#)
            var ids: [UUID] = []
            for _ in 0..<10 { ids.append(try await enqueue(db, team: team, server: server, tool: add, arguments: #"{"a":1,"b":2}"#)) }
            // Refused by the schema: they never reach the server, so they are no pickup.
            for _ in 0..<2 { ids.append(try await enqueue(db, team: team, server: server, tool: add, arguments: #"{"a":"x","b":2}"#)) }
            let daemon = try DaemonProcess(["run"], environment: environment(db, ["ASTRA_MCPD_METRICS_LABEL_CAP": "3"]))
            let base = try await endpoint(of: daemon)
            // `add` is labelled first: pairs are labelled in the order claims meet them.
            try await eventually(.seconds(60), "the add executions to end; stderr: \(daemon.standardError)") { try await unfinished(db) == 0 }
            // Tools the server does not offer: it answers an error. With `add`, five tools: over the cap of 3.
            for index in 1...4 {
                let tool = try await insertTool(db, server: server, name: "extra_\(index)")
                ids.append(try await enqueue(db, team: team, server: server, tool: tool, arguments: "{}"))
            }
            try await eventually(.seconds(60), "every execution to end; stderr: \(daemon.standardError)") { try await unfinished(db) == 0 }
            // The sessions gauge follows the heartbeat (every 5 s).
            let text = try await scrape(base, until: "a heartbeat to show the session") {
                $0.value("astra_mcpd_sessions", ["server": "fast"]) == 1
            }

            let executions = "astra_mcpd_executions_total"
            #expect(text.types[executions] == "counter")
            #expect(text.types["astra_mcpd_execution_duration_seconds"] == "histogram")
            #expect(text.types["astra_mcpd_sessions"] == "gauge")
            #expect(text.sum(executions) == 16)
            #expect(text.sum(executions, ["status": "success"]) == 10)
            #expect(text.sum(executions, ["status": "error"]) == 6)
            #expect(text.sum(executions, ["status": "timeout"]) == 0)
            #expect(text.sum(executions, ["server": "fast", "tool": "add", "status": "success"]) == 10)
            // The cap: three pairs labelled, the other two tools' executions under tool="other".
            let tools = Set(text.samples(executions, ["server": "fast"]).compactMap { $0.labels["tool"] })
            #expect(tools.count == 4 && tools.contains("other") && tools.contains("add"), "\(tools)")
            #expect(tools.subtracting(["add", "other"]).isSubset(of: Set((1...4).map { "extra_\($0)" })))
            #expect(text.sum(executions, ["tool": "other"]) == 2)
            #expect(text.sum("astra_mcpd_execution_duration_seconds_count") == 16)
            #expect(text.sum("astra_mcpd_execution_duration_seconds_bucket", ["le": "+Inf"]) == 16)
            #expect(text.value("astra_mcpd_pickup_latency_seconds_count") == 14)
            #expect(text.value("astra_mcpd_completion_batch_size_sum") == 16)
            #expect(text.sum("astra_mcpd_database_round_trips_total", ["statement": "claim_executions"]) >= 1)
            #expect(text.sum("astra_mcpd_database_round_trips_total", ["statement": "complete_executions"]) >= 1)
            #expect(text.sum("astra_mcpd_database_round_trips_total", ["statement": "commit_probe"]) >= 2)
            #expect(text.value("astra_mcpd_circuit_state", ["server": "fast"]) == 0)
            #expect(text.value("astra_mcpd_session_restarts_total", ["server": "fast"]) == 0)
            #expect(text.value("astra_mcpd_queue_ready_executions") == 0)
            // Bounded labels: no execution id (nor any other UUID) in any label, nor anywhere else.
            let uuid = /[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/
            for sample in text.samples {
                for (key, value) in sample.labels { #expect(value.firstMatch(of: uuid) == nil, "\(sample.name) \(key)=\(value)") }
            }
            let raw = try await get(base + "/metrics")
            #expect(raw.contentType == "text/plain; version=0.0.4; charset=utf-8")
            for id in ids { #expect(!raw.body.lowercased().contains(id.uuidString.lowercased())) }

            #expect(try await get(base + "/").status == 404)
            #expect(try await get(base + "/metrics/extra").status == 404)
            #expect(try await get(base + "/metrics", method: .POST).status == 405)

            // The scrapes left a kept-alive connection open: the endpoint must not hold the stop up.
            daemon.terminate()
            #expect(try await daemon.waitForExit(.seconds(30)) == 0, "stderr: \(daemon.standardError)")
            await #expect(throws: (any Error).self) { _ = try await get(base + "/metrics") }
        }
    }

    @Test("queue depth, calls in flight and sessions per server as of the heartbeat; a child that exits counts as a restart")
    func gaugesAndRestarts() async throws {
        try TestPaths.requireExecutable(TestPaths.demoServer, hint: "build it with 'swift build --product astra-mcpd-demo-server'")
        try await TestDatabase.with { db in
            let team = UUID()
            let probe = try await insertServer(db, team: team, name: "probe", command: "/usr/bin/python3", args: ["-u", TestPaths.fastServer, "--env-probe"])
            let exit = try await insertTool(db, server: probe, name: "leak_and_exit")
            _ = try await enqueue(db, team: team, server: probe, tool: exit, arguments: #"{"name":"HOME"}"#)
            let daemon = try DaemonProcess(
                ["run"],
                environment: environment(db, [
                    "ASTRA_MCPD_MAX_CONCURRENCY": "1", "ASTRA_MCPD_MAX_IN_FLIGHT_PER_SERVER": "1", "ASTRA_MCPD_SHUTDOWN_GRACE_SECONDS": "0",
                ]))
            let base = try await endpoint(of: daemon)
            _ = try await scrape(base, until: "the child's exit to count as a restart") {
                $0.value("astra_mcpd_session_restarts_total", ["server": "probe"]) == 1
            }

            // One slot: the first sleep runs, the other two wait in the queue.
            let demo = try await insertServer(db, team: team, name: "demo", command: TestPaths.demoServer, args: [])
            let sleep = try await insertTool(db, server: demo, name: "sleep")
            for _ in 0..<3 { _ = try await enqueue(db, team: team, server: demo, tool: sleep, arguments: #"{"seconds": 60}"#) }
            let text = try await scrape(base, until: "a heartbeat to show 2 ready, 1 in flight and demo's session") {
                $0.value("astra_mcpd_queue_ready_executions") == 2 && $0.value("astra_mcpd_executions_in_flight") == 1
                    && $0.value("astra_mcpd_sessions", ["server": "demo"]) == 1
            }
            #expect(text.value("astra_mcpd_sessions", ["server": "probe"]) == 0)
            #expect(text.value("astra_mcpd_executions_total", ["server": "probe", "tool": "leak_and_exit", "status": "error"]) == 1)
            #expect(text.value("astra_mcpd_session_start_failures_total", ["server": "demo"]) == 0)

            daemon.terminate()
            #expect(try await daemon.waitForExit(.seconds(30)) == 0, "stderr: \(daemon.standardError)")
        }
    }

    @Test("a metrics port in use stops the daemon before it claims anything: one line, exit 1")
    func portInUse() async throws {
        try await TestDatabase.with { db in
            let team = UUID()
            let server = try await insertServer(db, team: team, name: "fast", command: "/usr/bin/python3", args: ["-u", TestPaths.fastServer])
            let tool = try await insertTool(db, server: server, name: "add")
            let id = try await enqueue(db, team: team, server: server, tool: tool, arguments: #"{"a":1,"b":2}"#)
            // The port is held by a daemon of another database.
            try await TestDatabase.with { other in
                let holder = try DaemonProcess(["run"], environment: environment(other))
                let port = try await endpoint(of: holder).split(separator: ":").last.map(String.init) ?? ""
                let daemon = try DaemonProcess(["run"], environment: environment(db, ["ASTRA_MCPD_METRICS_LISTEN": "127.0.0.1:\(port)"]))
                #expect(try await daemon.waitForExit() == 1)
                let lines = daemon.standardError.split(separator: "\n").filter { $0.hasPrefix("astra-mcpd: ") }
                #expect(lines.count == 1 && lines.first?.contains("cannot listen on 127.0.0.1:\(port)") == true, "\(daemon.standardError)")
                holder.terminate()
                #expect(try await holder.waitForExit() == 0, "stderr: \(holder.standardError)")
            }
            let status = try await db.withConnection { connection in
                try await connection.query("SELECT status FROM mcp_tool_executions WHERE id = \(id)", logger: TestLogging.logger).collect()[0].decode(String.self)
            }
            #expect(status == "pending")
        }
    }

    @Test("a non-loopback metrics_listen is a configuration error: one line, exit 2")
    func nonLoopbackRefused() async throws {
        for command in [["check-config"], ["run"]] {
            let daemon = try DaemonProcess(command, environment: ["ASTRA_MCPD_METRICS_LISTEN": "0.0.0.0:9464", "ASTRA_MCPD_LOG_TARGET": "stderr"])
            #expect(try await daemon.waitForExit() == 2)
            let lines = daemon.standardError.split(separator: "\n")
            #expect(lines.count == 1, "\(daemon.standardError)")
            #expect(lines.first?.contains("ASTRA_MCPD_METRICS_LISTEN: 0.0.0.0 is not a loopback address") == true, "\(daemon.standardError)")
        }
    }
}
