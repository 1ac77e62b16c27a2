import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

@testable import AstraMCP

/// The daemon running in-process against a test database, as `astra-mcpd run` would run it,
/// plus the steps a backend takes: register a server, sync it, enqueue rows, wait for them.
struct TestDaemon: Sendable {
    let parts: AstraDaemon.Parts
    let testDatabase: TestDatabase
    /// The team every server and execution of the test belongs to.
    let team = UUID()

    var database: PostgresClient { parts.database }
    var logger: Logger { TestLogging.logger }

    /// Runs the daemon's services for the duration of `body`, then shuts it down gracefully.
    static func with<T: Sendable>(
        _ testDatabase: TestDatabase,
        configure: (inout DaemonConfiguration) -> Void = { _ in },
        onCallStarted: (@Sendable (UUID) -> Void)? = nil,
        _ body: @Sendable (TestDaemon) async throws -> T
    ) async throws -> T {
        var configuration = DaemonConfiguration()
        configuration.databaseURL = testDatabase.url
        configuration.workerID = "test-\(testDatabase.name)"
        configuration.databasePoolSize = 6
        configuration.pollInterval = .seconds(1)
        configuration.shutdownGrace = .seconds(5)
        configuration.initializeTimeout = .seconds(30)
        configuration.childExitGrace = .seconds(1)
        configuration.syncOnStart = false
        configuration.stdioCommands = Self.stdioCommands
        // The tests' HTTP servers and callback receivers are on loopback.
        configuration.networkPolicy = configuration.networkPolicy.allowingLoopback()
        configure(&configuration)

        let parts = try AstraDaemon(configuration: configuration, logger: TestLogging.logger).makeParts(onCallStarted: onCallStarted)
        let group = ServiceGroup(
            configuration: .init(services: parts.services.map { .init(service: $0) }, logger: TestLogging.logger))
        let daemon = TestDaemon(parts: parts, testDatabase: testDatabase)
        let running = Task { try await group.run() }
        await parts.waitUntilDatabaseRuns()
        let result: Result<T, any Error>
        do { result = .success(try await body(daemon)) } catch { result = .failure(error) }
        await group.triggerGracefulShutdown()
        try await withDeadline(.seconds(30), "the daemon to stop") { try await running.value }
        return try result.get()
    }

    /// The programs the tests' stdio servers run: this repository's (the demo server, the venv's
    /// servers) and Python.
    static let stdioCommands = StdioCommandPolicy(allowed: [TestPaths.repositoryRoot.path + "/"])
        .allowing("python3").allowing("/usr/bin/python3").allowing(TestPaths.repositoryRoot.appendingPathComponent(".venv/bin/python").path)

    /// `stdio_commands` for a daemon started as a process.
    static var stdioCommandsSetting: String { stdioCommands.allowed.joined(separator: ",") }

    // MARK: Servers and tools

    /// Inserts a stdio server for the test's team (or `team`).
    /// - Parameter healthChecks: false: its first health check is a day away, so no check
    ///   starts it behind the test's back.
    func registerServer(
        _ name: String, command: String, args: [String] = [], env: [String: String] = [:], extraConfig: [String: any Sendable] = [:],
        team: UUID? = nil, healthChecks: Bool = true
    ) async throws -> ServerDescriptor {
        let config = try Self.serverConfig(command: command, args: args, env: env, extra: extraConfig)
        let firstCheckIn = healthChecks ? 0 : 86_400
        let rows = try await database.query(
            """
            INSERT INTO mcp_servers (team_id, name, server_type, config, next_health_check_at)
            VALUES (\(team ?? self.team), \(name), 'stdio', \(config)::jsonb, now() + make_interval(secs => \(firstCheckIn)))
            RETURNING id, config::text
            """,
            logger: logger
        ).collect()
        let (id, stored) = try rows[0].decode((UUID, String).self)
        return ServerDescriptor(id: id, name: name, serverType: "stdio", isActive: true, configJSON: stored)
    }

    static func serverConfig(command: String, args: [String], env: [String: String], extra: [String: any Sendable] = [:]) throws -> String {
        var object: [String: Any] = extra
        object["command"] = command
        object["args"] = args
        if !env.isEmpty { object["env"] = env }
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    /// The demo server (echo, add, sleep, fail).
    func registerDemoServer(_ name: String = "demo", args: [String] = []) async throws -> ServerDescriptor {
        try TestPaths.requireExecutable(TestPaths.demoServer, hint: "build it with 'swift build --product astra-mcpd-demo-server'")
        return try await registerServer(name, command: TestPaths.demoServer, args: args)
    }

    /// `tests/Fixtures/fast_server.py` (add).
    func registerFastServer(_ name: String = "fast") async throws -> ServerDescriptor {
        try await registerServer(name, command: "python3", args: ["-u", TestPaths.fastServer])
    }

    /// `mcp-server-time` from `.venv` (get_current_time, convert_time).
    func registerTimeServer(_ name: String = "time") async throws -> ServerDescriptor {
        try TestPaths.requireExecutable(TestPaths.timeServer, hint: "run 'bash scripts/setup.sh' once to create .venv")
        return try await registerServer(name, command: TestPaths.timeServer, args: ["--local-timezone", "UTC"])
    }

    /// Copies the server's tools into `mcp_tools` (as `astra-mcpd sync` does).
    ///
    /// The server watcher acts on server rows as it read them, which may be older than the
    /// session this sync starts: right after the daemon starts or a row changes, it can stop
    /// that session ("stopped while starting") — a known race of the watcher, retried here so
    /// tests about other things do not trip over it.
    @discardableResult
    func sync(_ server: ServerDescriptor) async throws -> ToolSyncer.Result {
        let syncer = ToolSyncer(store: parts.servers, pool: parts.pool, logger: logger)
        for _ in 1..<3 {
            do {
                return try await syncer.sync(server)
            } catch let error as MCPSessionError where error.message.contains("stopped while starting") {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        return try await syncer.sync(server)
    }

    /// Inserts a tool row directly, for servers that cannot be synced (they do not start).
    func addTool(_ name: String, to server: ServerDescriptor, timeoutSeconds: Int = 30) async throws {
        _ = try await database.query(
            "INSERT INTO mcp_tools (server_id, tool_name, input_schema, timeout_seconds) VALUES (\(server.id), \(name), '{\"type\":\"object\"}'::jsonb, \(timeoutSeconds))",
            logger: logger
        ).collect()
    }

    /// Runs an SQL statement whose result the test does not need.
    func execute(_ sql: String) async throws {
        _ = try await database.query(PostgresQuery(unsafeSQL: sql), logger: logger).collect()
    }

    // MARK: Executions

    /// Enqueues one execution as the backend does: a plain INSERT.
    func enqueue(
        _ tool: String, on server: ServerDescriptor, arguments: String, team: UUID? = nil, user: UUID? = nil, callbackURL: String? = nil
    ) async throws -> UUID {
        let rows = try await database.query(
            """
            INSERT INTO mcp_tool_executions (user_id, team_id, server_id, tool_id, input_parameters, callback_url)
            SELECT \(user ?? UUID()), \(team ?? self.team), \(server.id), id, \(arguments)::jsonb, \(callbackURL) FROM mcp_tools
            WHERE server_id = \(server.id) AND tool_name = \(tool) RETURNING id
            """,
            logger: logger
        ).collect()
        guard let row = rows.first else { throw DeadlineExceeded(description: "no tool '\(tool)' on server '\(server.name)'") }
        return try row.decode(UUID.self)
    }

    /// Enqueues `count` executions in ONE statement; `argumentsSQL` is an SQL expression over
    /// `g` (1…count) giving each row's jsonb arguments.
    func enqueueMany(_ tool: String, on server: ServerDescriptor, count: Int, argumentsSQL: String) async throws -> [UUID] {
        let sql = Self.enqueueManySQL(tool, serverID: server.id, team: team, count: count, argumentsSQL: argumentsSQL)
        return try await database.query(PostgresQuery(unsafeSQL: sql), logger: logger).collect().map { try $0.decode(UUID.self) }
    }

    /// The backend's INSERT of `count` executions in one statement, returning their ids.
    static func enqueueManySQL(_ tool: String, serverID: UUID, team: UUID, count: Int, argumentsSQL: String) -> String {
        """
        INSERT INTO mcp_tool_executions (user_id, team_id, server_id, tool_id, input_parameters)
        SELECT gen_random_uuid(), '\(team)', '\(serverID)', t.id, \(argumentsSQL)
        FROM mcp_tools t, generate_series(1, \(count)) AS g
        WHERE t.server_id = '\(serverID)' AND t.tool_name = '\(tool)'
        RETURNING id
        """
    }

    /// Listens on `astra_mcpd_finished`, runs `enqueue`, and waits until a notification has
    /// named every id it returned. Returns the ids and the payloads received.
    func runToCompletion(
        timeout: Duration = .seconds(120),
        _ enqueue: @escaping @Sendable () async throws -> [UUID]
    ) async throws -> (ids: [UUID], payloads: [String]) {
        let database = self.database
        return try await withDeadline(timeout, "executions to finish") {
            try await database.withConnection { listener in
                try await listener.listen(on: "astra_mcpd_finished") { notifications in
                    let ids = try await enqueue()
                    var remaining = Set(ids)
                    var payloads: [String] = []
                    if remaining.isEmpty { return (ids, payloads) }
                    for try await notification in notifications {
                        payloads.append(notification.payload)
                        for id in notification.payload.split(separator: ",") {
                            if let id = UUID(uuidString: String(id)) { remaining.remove(id) }
                        }
                        if remaining.isEmpty { break }
                    }
                    return (ids, payloads)
                }
            }
        }
    }

    /// Enqueues one execution and waits for it to finish; returns its row.
    func run(_ tool: String, on server: ServerDescriptor, arguments: String) async throws -> ExecutionRow {
        let (ids, _) = try await runToCompletion { [self] in [try await enqueue(tool, on: server, arguments: arguments)] }
        return try await execution(ids[0])
    }

    /// An execution's row.
    func execution(_ id: UUID) async throws -> ExecutionRow {
        try await ExecutionRow.fetch(id, from: database, logger: logger)
    }
}

/// What the tests read back from `mcp_tool_executions` (and its queue row).
struct ExecutionRow: Sendable {
    var id: UUID
    var status: String
    var errorMessage: String?
    var outputJSON: String?
    var durationMilliseconds: Int32?
    var attempts: Int32
    var completedAt: Date?
    /// Whether the execution still has a queue row, and who leases it.
    var queued: Bool
    var leaseOwner: String?

    /// The parsed `output_result`.
    var output: [String: Any]? {
        outputJSON.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// The first text item of `output_result.content`.
    var outputText: String? {
        ((output?["content"] as? [[String: Any]])?.first?["text"]) as? String
    }

    static let columns = """
        e.id, e.status, e.error_message, e.output_result::text, e.duration_ms, e.attempts, e.completed_at,
        q.execution_id IS NOT NULL, q.lease_owner
        FROM mcp_tool_executions e LEFT JOIN mcp_execution_queue q ON q.execution_id = e.id
        """

    static func fetch(_ id: UUID, from database: PostgresClient, logger: Logger) async throws -> ExecutionRow {
        let rows = try await database.query(PostgresQuery(unsafeSQL: "SELECT \(columns) WHERE e.id = '\(id)'"), logger: logger).collect()
        guard let row = rows.first else { throw DeadlineExceeded(description: "no execution \(id)") }
        return try decode(row)
    }

    static func fetchAll(_ ids: [UUID], from database: PostgresClient, logger: Logger) async throws -> [UUID: ExecutionRow] {
        try index(try await database.query("SELECT \(unescaped: columns) WHERE e.id = ANY(\(ids))", logger: logger).collect())
    }

    static func fetchAll(_ ids: [UUID], from connection: PostgresConnection, logger: Logger) async throws -> [UUID: ExecutionRow] {
        try index(try await connection.query("SELECT \(unescaped: columns) WHERE e.id = ANY(\(ids))", logger: logger).collect())
    }

    private static func index(_ rows: [PostgresRow]) throws -> [UUID: ExecutionRow] {
        var result: [UUID: ExecutionRow] = [:]
        for row in rows {
            let execution = try decode(row)
            result[execution.id] = execution
        }
        return result
    }

    static func decode(_ row: PostgresRow) throws -> ExecutionRow {
        let (id, status, error, output, duration, attempts, completed, queued, owner) =
            try row.decode((UUID, String, String?, String?, Int32?, Int32, Date?, Bool, String?).self)
        return ExecutionRow(
            id: id, status: status, errorMessage: error, outputJSON: output, durationMilliseconds: duration, attempts: attempts,
            completedAt: completed, queued: queued, leaseOwner: owner)
    }
}
