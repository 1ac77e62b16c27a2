import AstraMCP
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// `astra-mcpd demo`: the whole path on a throwaway database, start to finish.
///
/// Starts a local PostgreSQL (unless a database is configured), migrates, registers the demo
/// server twice — over stdio, and over Streamable HTTP (`--http`) — syncs their tools, enqueues
/// a handful of executions as a backend would (plain INSERTs), runs the daemon until a
/// `astra_mcpd_finished` notification has covered every one, and prints the outcomes. Then a
/// long call with a live progress line, a cancellation, and their signed callbacks, verified;
/// then it cleans up.
public struct DemoRunner: Sendable {
    public var configuration: DaemonConfiguration
    public var demoServerPath: String
    public var logger: Logger

    public init(configuration: DaemonConfiguration, demoServerPath: String, logger: Logger) {
        self.configuration = configuration
        self.demoServerPath = demoServerPath
        self.logger = logger
    }

    /// One execution the demo enqueues.
    struct DemoCall {
        var tool: String
        var arguments: String
        /// Over the Streamable HTTP server rather than stdio.
        var overHTTP = false
    }

    static let calls: [DemoCall] = [
        DemoCall(tool: "echo", arguments: #"{"text": "hello from the queue"}"#),
        DemoCall(tool: "add", arguments: #"{"a": 20, "b": 22}"#),
        DemoCall(tool: "sleep", arguments: #"{"seconds": 0.5}"#),
        DemoCall(tool: "fail", arguments: #"{"message": "this tool always fails"}"#),
        DemoCall(tool: "add", arguments: #"{"a": "twenty", "b": 22}"#),
        DemoCall(tool: "echo", arguments: #"["not", "an", "object"]"#),
        DemoCall(tool: "sleep", arguments: #"{"seconds": 5}"#),
        DemoCall(tool: "echo", arguments: #"{"text": "hello over Streamable HTTP"}"#, overHTTP: true),
        DemoCall(tool: "add", arguments: #"{"a": 2, "b": 3}"#, overHTTP: true),
    ]

    public func run() async throws {
        var configuration = self.configuration
        var cluster: EphemeralPostgres?
        if configuration.databaseURL == nil {
            print("starting a throwaway PostgreSQL…")
            cluster = try await EphemeralPostgres.start(logger: logger)
            configuration.databaseURL = cluster!.url
        }
        do {
            try await runDemo(configuration)
        } catch {
            await cluster?.stop()
            throw error
        }
        await cluster?.stop()
    }

    private func runDemo(_ configuration: DaemonConfiguration) async throws {
        let url = try DatabaseURL(configuration.requireDatabaseURL())
        let migrations = try Migration.bundled(configuredDirectory: configuration.migrationsDirectory)
        _ = try await url.withConnection(logger: logger) { connection in
            try await Migrator(migrations: migrations, logger: logger).migrate(connection)
        }
        print("migrated; starting the demo server over Streamable HTTP")
        let httpServer = try await DemoHTTPServerProcess.start(executable: demoServerPath)
        defer { httpServer.stop() }
        print("registering the demo server \(demoServerPath) over stdio, and at \(httpServer.url)")

        var daemonConfiguration = configuration
        daemonConfiguration.syncOnStart = false
        // The demo server may start, whatever else the operator allows.
        daemonConfiguration.stdioCommands = daemonConfiguration.stdioCommands.allowing(demoServerPath)
        // Its HTTP server and callback receiver are on loopback.
        daemonConfiguration.networkPolicy = daemonConfiguration.networkPolicy.allowingLoopback()
        daemonConfiguration.progressInterval = .milliseconds(200)  // a smooth progress line
        // The callbacks are signed with a team secret under a key of the demo's own.
        let keys = FileManager.default.temporaryDirectory.appendingPathComponent("astra-demo-keys-\(UUID().uuidString.prefix(8))").path
        _ = try CredentialKeyring.generateKey(in: keys)
        defer { try? FileManager.default.removeItem(atPath: keys) }
        daemonConfiguration.credentialKeysDirectory = keys
        let daemon = AstraDaemon(configuration: daemonConfiguration, logger: logger)
        let parts = try daemon.makeParts()
        let group = ServiceGroup(configuration: .init(services: parts.services.map { .init(service: $0) }, logger: logger))

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            defer { tasks.cancelAll() }
            await parts.waitUntilDatabaseRuns()
            let database = parts.database
            let team = UUID()
            let stdio = try await register(
                "demo", type: "stdio", config: "{\"command\": \(jsonQuoted(demoServerPath)), \"args\": []}", team: team, parts: parts)
            let http = try await register("demo-http", type: "http", config: "{\"url\": \(jsonQuoted(httpServer.url))}", team: team, parts: parts)
            // `sleep` reports progress, which keeps its timeout from firing: the cap ends the 5 s one.
            _ = try await database.query(
                "UPDATE mcp_tools SET timeout_seconds = 2, max_duration_seconds = 2, max_attempts = 1 WHERE tool_name = 'sleep' AND server_id = \(stdio)",
                logger: logger
            ).collect()

            let started = ContinuousClock.now
            let ids = try await enqueueAndWait(database: database, team: team, stdioServerID: stdio, httpServerID: http)
            let elapsed = ContinuousClock.now - started
            try await printOutcomes(database: database, ids: ids, elapsed: elapsed)
            try await runLongCalls(parts: parts, team: team, serverID: http, keys: keys)
            await group.triggerGracefulShutdown()
            try await tasks.next()
        }
    }

    /// Inserts a server row and syncs its tools; returns its id.
    private func register(_ name: String, type: String, config: String, team: UUID, parts: AstraDaemon.Parts) async throws -> UUID {
        let id = try await parts.database.query(
            "INSERT INTO mcp_servers (team_id, name, server_type, config) VALUES (\(team), \(name), \(type), \(config)::jsonb) RETURNING id",
            logger: logger
        ).decode(UUID.self).collectAll()[0]
        let server = ServerDescriptor(id: id, name: name, serverType: type, isActive: true, configJSON: config)
        let synced = try await ToolSyncer(store: parts.servers, pool: parts.pool, logger: logger).sync(server)
        print("synced \(synced.toolsOffered) tools from '\(name)' (\(type))")
        return id
    }

    /// Enqueues the demo calls and waits for the finished notifications.
    private func enqueueAndWait(database: PostgresClient, team: UUID, stdioServerID: UUID, httpServerID: UUID) async throws -> [UUID] {
        try await database.withConnection { listener in
            try await listener.listen(on: "astra_mcpd_finished") { notifications in
                var ids: [UUID] = []
                for call in Self.calls {
                    let serverID = call.overHTTP ? httpServerID : stdioServerID
                    let id = try await database.query("""
                        INSERT INTO mcp_tool_executions (user_id, team_id, server_id, tool_id, input_parameters)
                        SELECT \(UUID()), \(team), \(serverID), id, \(call.arguments)::jsonb FROM mcp_tools
                        WHERE server_id = \(serverID) AND tool_name = \(call.tool) RETURNING id
                        """, logger: logger).decode(UUID.self).collectAll()[0]
                    ids.append(id)
                }
                print("enqueued \(ids.count) executions; waiting for them to finish…")
                var remaining = Set(ids)
                for try await notification in notifications {
                    for id in notification.payload.split(separator: ",") { remaining.remove(UUID(uuidString: String(id)) ?? UUID()) }
                    if remaining.isEmpty { break }
                }
                return ids
            }
        }
    }

    /// A long call whose progress is drawn live, one cancelled midway, and the signed callback
    /// each sends to a receiver on loopback, verified there.
    private func runLongCalls(parts: AstraDaemon.Parts, team: UUID, serverID: UUID, keys: String) async throws {
        let database = parts.database
        let secret = WebhookSigner.generateSecret()
        let receiver = try await CallbackReceiver.start(secret: secret)
        try await CredentialStore(database: database, keysDirectory: keys, logger: logger).storeCallbackSecret(secret, teamID: team, defaultURL: receiver.url)
        print("\nlong-running calls over Streamable HTTP, with signed callbacks to \(receiver.url)")
        func enqueue(_ arguments: String) async throws -> UUID {
            try await database.query("""
                INSERT INTO mcp_tool_executions (user_id, team_id, server_id, tool_id, input_parameters)
                SELECT \(UUID()), \(team), \(serverID), id, \(arguments)::jsonb FROM mcp_tools
                WHERE server_id = \(serverID) AND tool_name = 'sleep' RETURNING id
                """, logger: logger).decode(UUID.self).collectAll()[0]
        }
        let (long, cancelled) = try await database.withConnection { listener in
            try await listener.listen(on: "astra_mcpd_progress") { progress in
                try await listener.listen(on: "astra_mcpd_finished") { finished in
                    var finishedIDs = finished.makeAsyncIterator()
                    func waitUntilFinished(_ id: UUID) async throws {
                        while let notification = try await finishedIDs.next(), !notification.payload.contains(id.uuidString.lowercased()) {}
                    }
                    let long = try await enqueue(#"{"seconds": 3}"#)
                    let cancelled = try await withThrowingTaskGroup(of: Void.self) { group in
                        // The live bar: each notification names the rows whose progress was written.
                        group.addTask {
                            for try await notification in progress where notification.payload.contains(long.uuidString.lowercased()) {
                                let (value, total) = try await database.query(
                                    "SELECT coalesce(progress, 0), coalesce(progress_total, 1) FROM mcp_tool_executions WHERE id = \(long)",
                                    logger: logger
                                ).decode((Double, Double).self).collectAll()[0]
                                let share = min(value / max(total, 0.001), 1)
                                let filled = Int((share * 30).rounded())
                                print("\r  sleep 3 s:  [" + String(repeating: "#", count: filled) + String(repeating: ".", count: 30 - filled)
                                    + String(format: "] %3.0f %%  %@", share * 100, "\(value) of \(total) s"), terminator: "")
                                fflush(nil)
                            }
                        }
                        try await waitUntilFinished(long)
                        group.cancelAll()
                        print("")
                        let cancelled = try await enqueue(#"{"seconds": 30}"#)
                        // Cancel it once it has reported progress, then wait for it to end.
                        while true {
                            let reported = try await database.query(
                                "SELECT progress IS NOT NULL FROM mcp_tool_executions WHERE id = \(cancelled)", logger: logger
                            ).decode(Bool.self).collectAll()[0]
                            if reported { break }
                            try await Task.sleep(for: .milliseconds(100))  // the demo's pacing, not a synchronisation
                        }
                        _ = try await database.query("SELECT astra_mcpd_cancel_execution(\(cancelled))", logger: logger).collect()
                        print("  sleep 30 s: cancelled with SELECT astra_mcpd_cancel_execution(…) once it reported progress")
                        try await waitUntilFinished(cancelled)
                        return cancelled
                    }
                    return (long, cancelled)
                }
            }
        }
        let rows = try await database.query(
            "SELECT id, status, coalesce(error_message, output_result->'content'->0->>'text', '') FROM mcp_tool_executions WHERE id = ANY(\([long, cancelled]))",
            logger: logger
        ).decode((UUID, String, String).self).collectAll()
        for row in rows.sorted(by: { $0.0 == long && $1.0 != long }) {
            print("  \(row.0 == long ? "sleep 3 s " : "sleep 30 s"): \(row.1) — \(row.2)")
        }
        // Both outcomes' callbacks arrive; the receiver checked each signature.
        var arrivals = receiver.stream.makeAsyncIterator()
        while receiver.all.count < 2, await arrivals.next() != nil {}
        for callback in receiver.all {
            let data = (try? JSONSerialization.jsonObject(with: Data(callback.body.utf8)) as? [String: Any])?["data"] as? [String: Any]
            print("  callback \(callback.webhookID.prefix(8))…: signature \(callback.verified ? "verified" : "NOT verified"), "
                + "execution \((data?["id"] as? String)?.prefix(8) ?? "?")… \(data?["status"] as? String ?? "?")")
        }
        await receiver.stop()
    }

    private func printOutcomes(database: PostgresClient, ids: [UUID], elapsed: Duration) async throws {
        let rows = try await database.query("""
            SELECT e.id, s.name, t.tool_name, e.input_parameters::text, e.status, coalesce(e.duration_ms, 0),
                   coalesce(e.error_message, e.output_result->'content'->0->>'text', '')
            FROM mcp_tool_executions e JOIN mcp_tools t ON t.id = e.tool_id JOIN mcp_servers s ON s.id = e.server_id
            WHERE e.id = ANY(\(ids))
            """, logger: logger).decode((UUID, String, String, String, String, Int32, String).self).collectAll()
        let byID = Dictionary(uniqueKeysWithValues: rows.map { ($0.0, $0) })
        var table = [["server", "tool", "arguments", "status", "ms", "result / error"]]
        for id in ids {
            guard let row = byID[id] else { continue }
            table.append([row.1, row.2, String(row.3.prefix(34)), row.4, "\(row.5)", String(row.6.replacingOccurrences(of: "\n", with: " ").prefix(60))])
        }
        let widths = (0..<6).map { column in table.map { $0[column].count }.max() ?? 0 }
        print("")
        for (index, row) in table.enumerated() {
            print(row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  "))
            if index == 0 { print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")) }
        }
        let stats = try await database.query(
            "SELECT s.name || '/' || t.tool_name, t.execution_count, t.success_count, t.error_count, coalesce(t.avg_duration_ms, 0) FROM mcp_tools t JOIN mcp_servers s ON s.id = t.server_id WHERE t.execution_count > 0 ORDER BY 1",
            logger: logger
        ).decode((String, Int64, Int64, Int64, Int32).self).collectAll()
        print("\nall \(ids.count) executions finished in \(elapsed.formatted(.units(allowed: [.seconds, .milliseconds], width: .narrow)))")
        print("tool statistics: " + stats.map { "\($0.0) \($0.1) runs (\($0.2) ok, \($0.3) failed, avg \($0.4) ms)" }.joined(separator: "; "))
    }
}
