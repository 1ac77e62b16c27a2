import Foundation
import PostgresNIO
import Testing

@testable import AstraMCP

/// `astra-mcpd run` as a real process: signals, exit codes, one-line errors.
@Suite("astra-mcpd run as a process", .timeLimit(.minutes(3)))
struct DaemonProcessTests {
    /// Registers the demo server with a `sleep` tool directly in the database (no sync needed:
    /// the daemon only needs the row) and enqueues one sleep.
    func enqueueSleep(_ db: TestDatabase, seconds: Double) async throws -> UUID {
        let (team, server, tool, id) = (UUID(), UUID(), UUID(), UUID())
        let config = try TestDaemon.serverConfig(command: TestPaths.demoServer, args: [], env: [:])
        // One transaction: a running daemon syncs a new server's tools as soon as it sees the row,
        // and its 'sleep' would otherwise race this one into mcp_tools (a unique violation).
        do {
            try await db.withConnection { connection in
                for sql in [
                    "BEGIN",
                    "INSERT INTO mcp_servers (id, team_id, name, server_type, config) VALUES ('\(server)', '\(team)', 'demo', 'stdio', '\(config)')",
                    "INSERT INTO mcp_tools (id, server_id, tool_name, input_schema) VALUES ('\(tool)', '\(server)', 'sleep', '{}')",
                    """
                    INSERT INTO mcp_tool_executions (id, user_id, team_id, server_id, tool_id, input_parameters)
                    VALUES ('\(id)', '\(UUID())', '\(team)', '\(server)', '\(tool)', '{"seconds": \(seconds)}')
                    """,
                    "COMMIT",
                ] {
                    _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: TestLogging.logger).collect()
                }
            }
        } catch {
            throw TestDatabaseError(description: "enqueueing a sleep: \(String(reflecting: error))")
        }
        return id
    }

    func row(_ db: TestDatabase, _ id: UUID) async throws -> (status: String, queued: Bool, leaseOwner: String?, error: String?) {
        do {
            return try await rowOrPSQLError(db, id)
        } catch {
            throw TestDatabaseError(description: "reading execution \(id): \(String(reflecting: error))")
        }
    }

    private func rowOrPSQLError(_ db: TestDatabase, _ id: UUID) async throws -> (status: String, queued: Bool, leaseOwner: String?, error: String?) {
        try await db.withConnection { connection in
            let rows = try await connection.query(
                "SELECT e.status, q.execution_id IS NOT NULL, q.lease_owner, e.error_message FROM mcp_tool_executions e LEFT JOIN mcp_execution_queue q ON q.execution_id = e.id WHERE e.id = \(id)",
                logger: TestLogging.logger
            ).collect()
            let (status, queued, owner, error) = try rows[0].decode((String, Bool, String?, String?).self)
            return (status, queued, owner, error)
        }
    }

    func environment(_ db: TestDatabase, _ extra: [String: String] = [:]) -> [String: String] {
        [
            "ASTRA_MCPD_DATABASE_URL": db.url,
            "ASTRA_MCPD_LOG_TARGET": "stderr",
            "ASTRA_MCPD_SYNC_ON_START": "false",
            "ASTRA_MCPD_POLL_INTERVAL_SECONDS": "1",
        ].merging(extra) { $1 }
    }

    /// Waits until the daemon has claimed the execution: from then on it is in flight, and a
    /// graceful stop lets it finish.
    func waitUntilRunning(_ db: TestDatabase, _ id: UUID, _ daemon: DaemonProcess) async throws {
        try await eventually(.seconds(30), "the execution to start; stderr: \(daemon.standardError)") {
            try await row(db, id).status == "running"
        }
    }

    @Test("SIGTERM lets the running call finish: exit 0 and the execution ended success")
    func sigtermDrains() async throws {
        try await TestDatabase.with { db in
            try TestPaths.requireExecutable(TestPaths.demoServer, hint: "build it with 'swift build --product astra-mcpd-demo-server'")
            let id = try await enqueueSleep(db, seconds: 1)
            let daemon = try DaemonProcess(["run"], environment: environment(db))
            try await waitUntilRunning(db, id, daemon)
            daemon.terminate()
            let status = try await daemon.waitForExit()
            #expect(status == 0, "stderr: \(daemon.standardError)")
            let after = try await row(db, id)
            #expect(after.status == "success", "\(after.error ?? "")")
            #expect(!after.queued)
        }
    }

    @Test("a stdio child of the same user cannot read the daemon's /proc/<pid>/environ (the daemon is non-dumpable)")
    func childCannotReadEnvironment() async throws {
        // As root the child could read anything (CAP_SYS_PTRACE): both run as `nobody`, as a
        // daemon's user and its children do.
        try TestPaths.requireExecutable("/usr/bin/setpriv", hint: "util-linux's setpriv runs the daemon as nobody")
        try await TestDatabase.with { db in
            let (team, server, tool, id) = (UUID(), UUID(), UUID(), UUID())
            let config = try TestDaemon.serverConfig(command: "/usr/bin/python3", args: ["-u", TestPaths.fastServer, "--probe-parent"], env: [:])
            try await db.execute("INSERT INTO mcp_servers (id, team_id, name, server_type, config) VALUES ('\(server)', '\(team)', 'probe', 'stdio', '\(config)')")
            try await db.execute("INSERT INTO mcp_tools (id, server_id, tool_name, input_schema) VALUES ('\(tool)', '\(server)', 'probe_parent', '{}')")
            try await db.execute("""
                INSERT INTO mcp_tool_executions (id, user_id, team_id, server_id, tool_id, input_parameters)
                VALUES ('\(id)', '\(UUID())', '\(team)', '\(server)', '\(tool)', '{}')
                """)
            let daemon = try DaemonProcess(
                ["run"], environment: environment(db, ["HOME": "/tmp"]),
                wrapper: ["/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            defer { daemon.kill() }
            let text = try await withDeadline(.seconds(60), "the probe to finish; stderr: \(daemon.standardError)") {
                while true {
                    let row = try await db.withConnection { connection in
                        try await connection.query(
                            "SELECT status, coalesce(output_result->'content'->0->>'text', error_message) FROM mcp_tool_executions WHERE id = \(id)",
                            logger: TestLogging.logger
                        ).collect()[0].decode((String, String?).self)
                    }
                    if !["pending", "running"].contains(row.0) { return row.1 }
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            #expect(text == "denied: EACCES", "stderr: \(daemon.standardError)")
            daemon.terminate()
            #expect(try await daemon.waitForExit() == 0)
        }
    }

    @Test("in a bwrap sandbox a stdio child sees neither the daemon's key directory nor any other process; without one it sees both")
    func sandboxedChild() async throws {
        try TestPaths.requireExecutable("/usr/bin/setpriv", hint: "util-linux's setpriv runs the daemon as nobody")
        try TestPaths.requireExecutable("/usr/bin/bwrap", hint: "install the bubblewrap package (scripts/setup.sh does)")
        // A key directory the daemon's user (nobody) owns and can read, as under systemd.
        let keys = FileManager.default.temporaryDirectory.appendingPathComponent("astra-sandbox-keys-\(UUID().uuidString.prefix(8))").path
        let keyID = try CredentialKeyring.generateKey(in: keys)
        defer { try? FileManager.default.removeItem(atPath: keys) }
        #expect(chown(keys, 65534, 65534) == 0 && chown(keys + "/" + keyID + ".key", 65534, 65534) == 0)

        /// Runs `tools` in order on a --probe-files server under a daemon run as nobody; returns their texts.
        func probe(sandbox: String, _ calls: [(tool: String, arguments: String)]) async throws -> (texts: [String], daemonPID: Int32) {
            try await TestDatabase.with { db in
                let (team, server) = (UUID(), UUID())
                let config = try TestDaemon.serverConfig(command: "/usr/bin/python3", args: ["-u", TestPaths.fastServer, "--probe-files"], env: [:])
                try await db.execute("INSERT INTO mcp_servers (id, team_id, name, server_type, config) VALUES ('\(server)', '\(team)', 'probe', 'stdio', '\(config)')")
                var ids: [UUID] = []
                for call in calls {
                    let (tool, id) = (UUID(), UUID())
                    try await db.execute("INSERT INTO mcp_tools (id, server_id, tool_name, input_schema) VALUES ('\(tool)', '\(server)', '\(call.tool)', '{}')")
                    try await db.execute("""
                        INSERT INTO mcp_tool_executions (id, user_id, team_id, server_id, tool_id, input_parameters)
                        VALUES ('\(id)', '\(UUID())', '\(team)', '\(server)', '\(tool)', '\(call.arguments)')
                        """)
                    ids.append(id)
                }
                let daemon = try DaemonProcess(
                    ["run"],
                    environment: environment(db, ["HOME": "/tmp", "ASTRA_MCPD_CREDENTIAL_KEYS_DIR": keys, "ASTRA_MCPD_STDIO_SANDBOX": sandbox]),
                    wrapper: ["/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
                defer { daemon.kill() }
                let rows = try await db.waitUntilTerminal(ids, "the probes; stderr: \(daemon.standardError)")
                let texts = ids.map { rows[$0]?.outputText ?? "error: \(rows[$0]?.errorMessage ?? "")" }
                let pid = daemon.processIdentifier
                daemon.terminate()
                #expect(try await daemon.waitForExit() == 0)
                return (texts, pid)
            }
        }

        let calls = [("read_path", #"{"path": "\#(keys)"}"#), ("visible_processes", "{}"), ("add", #"{"a": 2, "b": 3}"#)]
        let open = try await probe(sandbox: "none", calls)
        #expect(open.texts[0] == keyID + ".key", "unsandboxed, the child reads the daemon's key directory: \(open.texts[0])")
        #expect(open.texts[1].split(separator: ",").contains("\(open.daemonPID)"), "and sees the daemon")

        let sandboxed = try await probe(sandbox: "bwrap", calls)
        #expect(sandboxed.texts[0] == "empty", "the key directory is an empty tmpfs: \(sandboxed.texts[0])")
        #expect(!sandboxed.texts[1].split(separator: ",").contains("\(sandboxed.daemonPID)"), "\(sandboxed.texts[1])")
        #expect(sandboxed.texts[1].split(separator: ",").count <= 3, "only the sandbox's own processes: \(sandboxed.texts[1])")
        #expect(sandboxed.texts[2] == "5", "the server works as before")
    }

    @Test("check-config: each check one line; the exit code names the first that failed (keys 3, database 4, migrations 5)")
    func checkConfig() async throws {
        try await withCredentialKeys { keys in
            try await TestDatabase.with { db in
                let good = try DaemonProcess(["check-config"], environment: environment(db, ["ASTRA_MCPD_CREDENTIAL_KEYS_DIR": keys]))
                #expect(try await good.waitForExit() == 0, "\(good.standardOutput)\(good.standardError)")
                let lines = good.standardOutput.split(separator: "\n")
                #expect(lines.count == 4 && lines.allSatisfy { $0.hasPrefix("ok    ") }, "\(good.standardOutput)")

                let noKeys = try DaemonProcess(["check-config"], environment: environment(db, ["ASTRA_MCPD_CREDENTIAL_KEYS_DIR": "/nonexistent/keys"]))
                #expect(try await noKeys.waitForExit() == 3)
                #expect(noKeys.standardOutput.contains("FAIL  credential keys: no credential keys in /nonexistent/keys"), "\(noKeys.standardOutput)")
                #expect(noKeys.standardOutput.contains("ok    migrations"), "the other checks still run")

                let unreachable = try DaemonProcess(
                    ["check-config"], environment: ["ASTRA_MCPD_DATABASE_URL": "postgres://nobody@127.0.0.1:1/none", "ASTRA_MCPD_CREDENTIAL_KEYS_DIR": keys])
                #expect(try await unreachable.waitForExit() == 4)
                #expect(unreachable.standardOutput.contains("FAIL  database: "), "\(unreachable.standardOutput)")
            }
            try await TestDatabase.with(migrated: false) { db in
                let unmigrated = try DaemonProcess(["check-config"], environment: environment(db, ["ASTRA_MCPD_CREDENTIAL_KEYS_DIR": keys]))
                #expect(try await unmigrated.waitForExit() == 5)
                #expect(unmigrated.standardOutput.contains("FAIL  migrations: "), "\(unmigrated.standardOutput)")
            }
        }
    }

    @Test("systemd's notify protocol: READY once the queue is consumed, a STATUS line with the fleet, WATCHDOG pings at half the interval, STOPPING on SIGTERM")
    func notifyProtocol() async throws {
        let socket = try NotifySocket()
        defer { socket.close() }
        try await TestDatabase.with { db in
            let daemon = try DaemonProcess(
                ["run"], environment: environment(db, ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "1000000"]))
            defer { daemon.kill() }
            _ = try await socket.wait(for: "READY=1") { $0 == "READY=1" }
            let status = try await socket.wait(for: "a STATUS line with the fleet") { $0.hasPrefix("STATUS=") && $0.contains("in flight") }
            #expect(status.contains("0 in flight, 0 done in the last minute, 0 ready in the queue, 0 sessions to 0 servers, 0 failing, 0 circuits open"),
                    "\(status)")
            // Pings come while the engine makes progress: two within a couple of half-intervals.
            try await eventually(.seconds(10), "watchdog pings") { socket.times(of: "WATCHDOG=1").count >= 3 }
            let pings = socket.times(of: "WATCHDOG=1")
            #expect(pings.count >= 3)
            daemon.terminate()
            #expect(try await daemon.waitForExit() == 0, "\(daemon.standardError)")
            #expect(socket.fields.contains("STOPPING=1"))
            let ready = socket.fields.firstIndex(of: "READY=1")!, stopping = socket.fields.firstIndex(of: "STOPPING=1")!
            #expect(ready < stopping)
        }
    }

    @Test("READY=1 waits until the queue is being consumed: not while the first claim cannot run, at once after")
    func readyAfterFirstClaim() async throws {
        let socket = try NotifySocket()
        defer { socket.close() }
        try await TestDatabase.with { db in
            try await db.withConnection { blocker in
                // Another session holds the queue table: every claim fails on its lock timeout.
                _ = try await blocker.query("BEGIN", logger: TestLogging.logger).collect()
                _ = try await blocker.query("LOCK TABLE mcp_execution_queue IN ACCESS EXCLUSIVE MODE", logger: TestLogging.logger).collect()
                let daemon = try DaemonProcess(
                    ["run"], environment: environment(db, ["NOTIFY_SOCKET": socket.path, "ASTRA_MCPD_LOCK_TIMEOUT_SECONDS": "1"]))
                defer { daemon.kill() }
                try await eventually(.seconds(30), "a claim to fail on the lock") { daemon.standardError.contains("claim failed; retrying") }
                #expect(!socket.fields.contains("READY=1"), "ready before any claim ran: \(socket.fields)")
                _ = try await blocker.query("COMMIT", logger: TestLogging.logger).collect()
                _ = try await socket.wait(for: "READY=1 once a claim ran") { $0 == "READY=1" }
                daemon.terminate()
                #expect(try await daemon.waitForExit() == 0)
            }
        }
    }

    @Test("a configuration file with an unknown key: exit 2 and one line naming the key")
    func unknownConfigurationKey() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("astra-mcpd-\(UUID().uuidString).conf").path
        try "max_concurrency = 4\nmax_concurency = 8\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let daemon = try DaemonProcess(["run", "--config", path], environment: ["ASTRA_MCPD_DATABASE_URL": "postgres://nobody@127.0.0.1:1/none"])
        let status = try await daemon.waitForExit()
        #expect(status == 2)
        let lines = daemon.standardError.split(separator: "\n")
        #expect(lines == ["astra-mcpd: \(path):2: unknown key 'max_concurency'"])
    }

    @Test("an unreachable database: a non-zero exit and one line naming the database")
    func unreachableDatabase() async throws {
        let daemon = try DaemonProcess(
            ["run"], environment: ["ASTRA_MCPD_DATABASE_URL": "postgres://astra:hunter2@127.0.0.1:1/queue?sslmode=disable", "ASTRA_MCPD_LOG_TARGET": "stderr"])
        let status = try await daemon.waitForExit()
        #expect(status != 0)
        let lines = daemon.standardError.split(separator: "\n")
        #expect(lines.count == 1, "\(daemon.standardError)")
        #expect(lines.first?.hasPrefix("astra-mcpd: cannot connect to the database at ") == true, "\(daemon.standardError)")
        #expect(lines.first?.contains("127.0.0.1:1") == true)
        #expect(!daemon.standardError.contains("hunter2"), "the password is not shown")
    }
}
