import AstraMCP
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// `astra-mcpd bench`: measures the real daemon path in-process against a real PostgreSQL and
/// real MCP servers (over stdio, and the demo server over Streamable HTTP), and prints the
/// figures.
///
/// - Throughput: `count` executions of `add` enqueued at once, enqueue → all terminal
///   (counted from `astra_mcpd_finished` notifications).
/// - Pickup latency: on an idle daemon, single INSERTs one at a time, each in its own
///   transaction; from just before its COMMIT is sent to just before the daemon hands
///   `tools/call` to the server's session.
/// - CPU with calls in flight and nothing finishing: `sleep` calls held by the demo server.
/// - Direct-call ceiling: the same server called through our session layer with the same
///   concurrency, no database.
/// - Peak RSS of the process (daemon and benchmark driver together) and its CPU time while
///   the daemon idles.
public struct Benchmark: Sendable {
    /// A server to measure.
    public struct Server: Sendable {
        public var label: String
        /// A stdio server's command line, or the demo server's executable to run with `--http 0`.
        public var command: [String]
        public var overHTTP: Bool
        public init(label: String, command: [String], overHTTP: Bool = false) {
            self.label = label
            self.command = command
            self.overHTTP = overHTTP
        }
    }

    var configuration: DaemonConfiguration
    var logger: Logger
    var count: Int
    var latencySamples: Int
    var idleSeconds: Int
    var servers: [Server]
    /// Print PostgreSQL's busiest statements at the end (needs `pg_stat_statements`).
    var statementStatistics: Bool

    public init(
        configuration: DaemonConfiguration, logger: Logger, count: Int, latencySamples: Int, idleSeconds: Int, servers: [Server],
        statementStatistics: Bool = false
    ) {
        self.statementStatistics = statementStatistics
        self.configuration = configuration
        self.logger = logger
        self.count = count
        self.latencySamples = latencySamples
        self.idleSeconds = idleSeconds
        self.servers = servers
    }

    public func run() async throws {
        var configuration = self.configuration
        configuration.syncOnStart = false
        // The benchmark's own stdio servers may start, whatever else the operator allows.
        for server in servers where !server.overHTTP { configuration.stdioCommands = configuration.stdioCommands.allowing(server.command[0]) }
        // Its HTTP servers and callback receiver are on loopback.
        configuration.networkPolicy = configuration.networkPolicy.allowingLoopback()
        // The callback burst signs with a team secret: a key of the benchmark's own.
        let keys = FileManager.default.temporaryDirectory.appendingPathComponent("astra-bench-keys-\(UUID().uuidString.prefix(8))").path
        _ = try CredentialKeyring.generateKey(in: keys)
        defer { try? FileManager.default.removeItem(atPath: keys) }
        configuration.credentialKeysDirectory = keys
        var cluster: EphemeralPostgres?
        if configuration.databaseURL == nil {
            cluster = try await EphemeralPostgres.start(logger: logger, statementStatistics: statementStatistics)
            configuration.databaseURL = cluster!.url
        }
        do {
            let url = try DatabaseURL(configuration.requireDatabaseURL())
            _ = try await url.withConnection(logger: logger) { try await Migrator(migrations: Migration.bundled(configuredDirectory: configuration.migrationsDirectory), logger: logger).migrate($0) }
            print("astra-mcpd bench: \(count) executions, concurrency \(configuration.maxConcurrency), \(ProcessInfo.processInfo.activeProcessorCount) cores")
            for (index, server) in servers.enumerated() {
                try await measure(server, configuration: configuration, measureIdle: index == 0)
            }
            if statementStatistics {
                try await url.withConnection(logger: logger) { connection in
                    _ = try? await connection.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", logger: logger).collect()
                    print("PostgreSQL's busiest statements:")
                    let rows = try await connection.query("SELECT calls::int, (total_exec_time)::float8, rows::int, left(regexp_replace(query, '\\s+', ' ', 'g'), 90) FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 12", logger: logger).decode((Int, Double, Int, String).self).collectAll()
                    for row in rows { print(String(format: "%8d calls %9.1f ms %8d rows  %@", row.0, row.1, row.2, row.3)) }
                }
            }
            print(String(format: "peak RSS (daemon + driver, one process): %.1f MiB", Double(Self.peakRSSKiB()) / 1024))
        } catch {
            await cluster?.stop()
            cluster = nil
            throw error
        }
        await cluster?.stop()
        cluster = nil
    }

    private func measure(_ benchServer: Server, configuration: DaemonConfiguration, measureIdle: Bool) async throws {
        let callStarted = Mutex<[UUID: ContinuousClock.Instant]>([:])
        let recording = Flag()
        let daemon = AstraDaemon(configuration: configuration, logger: logger)
        let parts = try daemon.makeParts { id in
            if recording.isSet { callStarted.withLock { $0[id] = .now } }
        }
        let group = ServiceGroup(configuration: .init(services: parts.services.map { .init(service: $0) }, logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            await parts.waitUntilDatabaseRuns()
            let database = parts.database
            let team = UUID()
            let httpServer = benchServer.overHTTP ? try await DemoHTTPServerProcess.start(executable: benchServer.command[0]) : nil
            defer { httpServer?.stop() }
            let config: String
            if let httpServer {
                config = "{\"url\": \(jsonQuoted(httpServer.url))}"
            } else {
                let args = benchServer.command.dropFirst().map { jsonQuoted($0) }.joined(separator: ",")
                config = "{\"command\": \(jsonQuoted(benchServer.command[0])), \"args\": [\(args)]}"
            }
            let type = benchServer.overHTTP ? "http" : "stdio"
            let name = "bench-\(UUID().uuidString.prefix(8))"
            let serverID = try await database.query(
                "INSERT INTO mcp_servers (team_id, name, server_type, config) VALUES (\(team), \(name), \(type), \(config)::jsonb) RETURNING id",
                logger: logger
            ).decode(UUID.self).collectAll()[0]
            let server = ServerDescriptor(id: serverID, name: name, serverType: type, isActive: true, configJSON: config)
            try await ToolSyncer(store: parts.servers, pool: parts.pool, logger: logger).sync(server)
            let toolID = try await database.query(
                "SELECT id FROM mcp_tools WHERE server_id = \(serverID) AND tool_name = 'add'", logger: logger
            ).decode(UUID.self).collectAll()[0]

            print("\n[\(benchServer.label)] \(httpServer?.url ?? benchServer.command.joined(separator: " "))")
            try await database.withConnection { listener in
                try await listener.listen(on: "astra_mcpd_finished") { notifications in
                    var iterator = notifications.makeAsyncIterator()

                    // Pickup latency on an idle daemon.
                    recording.set(true)
                    var latencies: [Duration] = []
                    for _ in 0..<latencySamples {
                        // From the commit: the INSERT runs in a transaction of its own, and the
                        // clock starts as its COMMIT is sent.
                        let (id, committing) = try await database.withConnection { connection in
                            _ = try await connection.query("BEGIN", logger: logger).collect()
                            let id = try await connection.query("""
                                INSERT INTO mcp_tool_executions (user_id, team_id, server_id, tool_id, input_parameters)
                                VALUES (\(team), \(team), \(serverID), \(toolID), '{"a": 1, "b": 2}') RETURNING id
                                """, logger: logger).decode(UUID.self).collectAll()[0]
                            let committing = ContinuousClock.now
                            _ = try await connection.query("COMMIT", logger: logger).collect()
                            return (id, committing)
                        }
                        while let notification = try await iterator.next(), !notification.payload.contains(id.uuidString.lowercased()) {}
                        if let started = callStarted.withLock({ $0[id] }) { latencies.append(started - committing) }
                    }
                    recording.set(false)
                    latencies.sort()
                    if !latencies.isEmpty {
                        print("  pickup latency (COMMIT sent → tools/call handed to the session): p50 \(Self.ms(latencies[latencies.count / 2])), p99 \(Self.ms(latencies[min(latencies.count - 1, latencies.count * 99 / 100)]))  (\(latencies.count) samples)")
                    }

                    // Throughput: everything enqueued at once, until every one is terminal.
                    let started = ContinuousClock.now
                    let cpuBefore = Self.cpuSeconds()
                    let statsBefore = parts.worker.statistics
                    var remaining = count
                    try await enqueueBurst(database: database, team: team, serverID: serverID, toolID: toolID)
                    while remaining > 0, let notification = try await iterator.next() {
                        remaining -= notification.payload.split(separator: ",").count
                    }
                    let elapsed = ContinuousClock.now - started
                    let rate = Double(count) / Self.seconds(elapsed)
                    let cpu = Self.cpuSeconds() - cpuBefore
                    let stats = parts.worker.statistics
                    let claims = stats.claims - statsBefore.claims
                    let batches = stats.completionBatches - statsBefore.completionBatches
                    print(String(format: "  daemon throughput: %.0f executions/s (%d in %@)", rate, count, Self.ms(elapsed)))
                    print(String(format: "  daemon CPU: %.0f µs per execution; %.1f executions per claim, %.1f per completion batch",
                                 cpu / Double(count) * 1e6,
                                 Double(stats.claimedExecutions - statsBefore.claimedExecutions) / Double(max(claims, 1)),
                                 Double(stats.completedExecutions - statsBefore.completedExecutions) / Double(max(batches, 1))))
                    let renewals = stats.leaseRenewals - statsBefore.leaseRenewals
                    // Each claim and each completion batch is two statements: itself, and the one that
                    // proves it committed (StatementRunner.committedRows).
                    print(String(format: "  round trips to PostgreSQL per execution: %.3f (%d claims and %d completion batches, each confirmed by a second statement; %d lease heartbeats)",
                                 Double(2 * (claims + batches) + renewals) / Double(count), claims, batches, renewals))

                    // Calls in flight, nothing finishing: the daemon should sleep too.
                    if let sleepTool = try await database.query(
                        "SELECT id FROM mcp_tools WHERE server_id = \(serverID) AND tool_name = 'sleep'", logger: logger
                    ).decode(UUID.self).collectAll().first {
                        let held = min(configuration.maxConcurrency, 64)
                        _ = try await database.query("""
                            INSERT INTO mcp_tool_executions (user_id, team_id, server_id, tool_id, input_parameters)
                            SELECT \(team), \(team), \(serverID), \(sleepTool), '{"seconds": 6}'::jsonb FROM generate_series(1, \(held))
                            """, logger: logger).collect()
                        try await Task.sleep(for: .seconds(1))  // a benchmark's settling time, not a test's synchronisation
                        let before = Self.cpuSeconds()
                        try await Task.sleep(for: .seconds(4))
                        let used = Self.cpuSeconds() - before
                        print(String(format: "  CPU with %d calls in flight and none finishing, for 4 s: %.3f s (%.2f %% of a core)", held, used, 100 * used / 4))
                        var finished = 0
                        while finished < held, let notification = try await iterator.next() {
                            finished += notification.payload.split(separator: ",").count
                        }
                    }

                    // The direct-call ceiling.
                    let session = try await parts.pool.session(for: server)
                    let ceiling = try await Self.directCalls(session.connection, count: count, concurrency: configuration.maxConcurrency)
                    print(String(format: "  direct-call ceiling (session layer, no database): %.0f calls/s; daemon/ceiling = %.0f %%", ceiling, 100 * rate / ceiling))

                    if measureIdle {
                        try await measureCallbacks(
                            parts: parts, team: team, serverID: serverID, toolID: toolID, keys: configuration.credentialKeysDirectory,
                            withoutRate: rate, withoutCPU: cpu / Double(count), notifications: &iterator)
                    }
                }
            }
            if measureIdle {
                let before = Self.cpuSeconds()
                try await Task.sleep(for: .seconds(idleSeconds))
                let used = Self.cpuSeconds() - before
                print(String(format: "  CPU while idle for %d s: %.3f s (%.2f %% of a core)", idleSeconds, used, 100 * used / Double(idleSeconds)))
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// Enqueues `count` executions of `add`, as a backend would: INSERTs of 1000 rows.
    private func enqueueBurst(database: PostgresClient, team: UUID, serverID: UUID, toolID: UUID) async throws {
        var enqueued = 0
        while enqueued < count {
            let chunk = min(1000, count - enqueued)
            _ = try await database.query("""
                INSERT INTO mcp_tool_executions (user_id, team_id, server_id, tool_id, input_parameters)
                SELECT \(team), \(team), \(serverID), \(toolID), jsonb_build_object('a', g, 'b', 1) FROM generate_series(1, \(chunk)) g
                """, logger: logger).collect()
            enqueued += chunk
        }
    }

    /// The same burst with a signed callback per execution, to a receiver on loopback: the
    /// delivery latency (the outcome's completion → the receiver's 2xx) and what callbacks cost.
    private func measureCallbacks(
        parts: AstraDaemon.Parts, team: UUID, serverID: UUID, toolID: UUID, keys: String, withoutRate: Double, withoutCPU: Double,
        notifications: inout PostgresNotificationSequence.AsyncIterator
    ) async throws {
        let database = parts.database
        let secret = WebhookSigner.generateSecret()
        let receiver = try await CallbackReceiver.start(secret: secret)
        try await CredentialStore(database: database, keysDirectory: keys, logger: logger).storeCallbackSecret(secret, teamID: team, defaultURL: receiver.url)
        let started = ContinuousClock.now
        let cpuBefore = Self.cpuSeconds()
        try await enqueueBurst(database: database, team: team, serverID: serverID, toolID: toolID)
        var remaining = count
        while remaining > 0, let notification = try await notifications.next() {
            remaining -= notification.payload.split(separator: ",").count
        }
        let executed = ContinuousClock.now - started
        var arrivals = receiver.stream.makeAsyncIterator()
        var delivered = receiver.all.count
        while delivered < count, await arrivals.next() != nil { delivered = receiver.all.count }
        let cpu = Self.cpuSeconds() - cpuBefore
        // Then one at a time on the idle daemon: the latency without a queue of deliveries.
        let singles = min(latencySamples, 100)
        for _ in 0..<singles {
            let before = receiver.all.count
            _ = try await database.query("""
                INSERT INTO mcp_tool_executions (user_id, team_id, server_id, tool_id, input_parameters)
                VALUES (\(team), \(team), \(serverID), \(toolID), '{"a": 1, "b": 2}')
                """, logger: logger).collect()
            while receiver.all.count <= before, await arrivals.next() != nil {}
        }
        let received = receiver.all
        await receiver.stop()

        let completed = try await database.query("""
            SELECT d.id, extract(epoch FROM e.completed_at)::float8 FROM mcp_callback_deliveries d JOIN mcp_tool_executions e ON e.id = d.execution_id
            WHERE d.team_id = \(team)
            """, logger: logger).decode((UUID, Double).self).collectAll()
        let completedAt = Dictionary(completed.map { ($0.0.uuidString.lowercased(), $0.1) }, uniquingKeysWith: { a, _ in a })
        let allLatencies = received.compactMap { callback in completedAt[callback.webhookID].map { callback.at.timeIntervalSince1970 - $0 } }
        let latencies = Array(allLatencies.prefix(count)).sorted()
        let idleLatencies = Array(allLatencies.dropFirst(count)).sorted()
        let rate = Double(count) / Self.seconds(executed)
        print(String(format: "  with a signed callback each: %.0f executions/s (%.0f %% of the rate without), daemon CPU %.0f µs per execution and its delivery (%.0f without)",
                     rate, 100 * rate / withoutRate, cpu / Double(count) * 1e6, withoutCPU * 1e6))
        func percentiles(_ sorted: [Double]) -> String {
            guard !sorted.isEmpty else { return "no samples" }
            return String(format: "p50 %.2f ms, p99 %.2f ms", sorted[sorted.count / 2] * 1000, sorted[min(sorted.count - 1, sorted.count * 99 / 100)] * 1000)
        }
        print("  callback delivery latency (outcome → 2xx): idle daemon, one at a time: \(percentiles(idleLatencies)) (\(idleLatencies.count) samples); "
            + "within the burst of \(count): \(percentiles(latencies)) (queued behind each other); \(received.filter(\.verified).count) of \(received.count) verified")
    }

    static func directCalls(_ connection: MCPConnection, count: Int, concurrency: Int) async throws -> Double {
        let next = Counter()
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    while next.increment() < count {
                        _ = try await connection.callTool(name: "add", argumentsJSON: #"{"a":1,"b":2}"#, progressToken: nil, timeout: .seconds(30))
                    }
                }
            }
            try await group.waitForAll()
        }
        return Double(count) / seconds(ContinuousClock.now - started)
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func ms(_ duration: Duration) -> String {
        String(format: "%.2f ms", seconds(duration) * 1000)
    }

    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }

    static func peakRSSKiB() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return Int(line.split(separator: " ")[1]) ?? 0
        }
        return 0
    }
}

/// A counter tasks share.
final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    /// Adds one; returns the value before.
    func increment() -> Int { value.add(1, ordering: .relaxed).oldValue }
}

/// A flag tasks share.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .relaxed) }
    func set(_ newValue: Bool) { value.store(newValue, ordering: .relaxed) }
}
