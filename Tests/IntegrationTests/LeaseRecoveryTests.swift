import Foundation
import PostgresNIO
import Testing

@testable import AstraMCP

/// A worker that died holding executions must not strand them.
@Suite("Lease recovery", .timeLimit(.minutes(1)))
struct LeaseRecoveryTests {
    @Test("an execution whose lease expired (its worker died) is claimed again and run")
    func expiredLeaseIsReclaimed() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                let demo = try await daemon.registerDemoServer()
                try await daemon.sync(demo)
                // A dead worker's claim: leased, 'running', lease expired a minute ago. Enqueue
                // it inside one transaction so this worker cannot claim it first.
                let id = UUID()
                let tool = try await daemon.database.query(
                    "SELECT id FROM mcp_tools WHERE server_id = \(demo.id) AND tool_name = 'echo'", logger: daemon.logger
                ).collect()[0].decode(UUID.self)
                let statements = [
                    "BEGIN",
                    """
                    INSERT INTO mcp_tool_executions (id, user_id, team_id, server_id, tool_id, input_parameters, status, attempts)
                    VALUES ('\(id)', '\(UUID())', '\(daemon.team)', '\(demo.id)', '\(tool)', '{"text":"recovered"}', 'pending', 1)
                    """,
                    """
                    UPDATE mcp_execution_queue SET lease_owner = 'dead-worker', lease_expires_at = now() - interval '1 minute', attempt = 1
                    WHERE execution_id = '\(id)'
                    """,
                    "UPDATE mcp_tool_executions SET status = 'running' WHERE id = '\(id)'",
                    "COMMIT",
                ]
                try await daemon.database.withConnection { connection in
                    for sql in statements {
                        _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: TestLogging.logger).collect()
                    }
                }
                try await eventually(.seconds(10), "the expired execution to be run again") {
                    try await daemon.execution(id).status == "success"
                }
            }
        }
    }
}

/// A claim whose answer is late: PostgreSQL committed it, the worker has not seen its rows yet.
@Suite("Lease recovery and unsettled claims", .timeLimit(.minutes(1)))
struct UnsettledClaimTests {
    @Test("a claim answered only after its lease expired is run once, not taken over as a lost worker's")
    func claimAnsweredAfterItsLease() async throws {
        try await TestDatabase.with { db in
            let proxy = PythonFixture(recordPrefix: "astra-pg-stall")
            defer { proxy.stop() }
            guard var url = URLComponents(string: db.url), let host = url.host, let port = url.port else { throw DeadlineExceeded(description: "bad URL \(db.url)") }
            try await proxy.start("pg_stall_proxy.py", ["\(proxy.port)", host, "\(port)", proxy.record])
            url.port = proxy.port
            url.queryItems = [URLQueryItem(name: "sslmode", value: "disable")]
            let viaProxy = url.string!
            try await FlakyServer.with { flaky in
                try await TestDaemon.with(db, configure: {
                    $0.useShortLifecycleIntervals()
                    $0.databaseURL = viaProxy
                    $0.leaseDuration = .seconds(2)
                }) { daemon in
                    let server = try await daemon.registerFlakyServer(state: flaky)
                    // The claim that takes it commits, and its answer is held back.
                    FileManager.default.createFile(atPath: proxy.record + "/arm", contents: Data())
                    let id = try await daemon.enqueueMany("unsafe_write", on: server, count: 1, argumentsSQL: #"'{"text": "late"}'::jsonb"#)[0]
                    try await eventually(.seconds(20), "the claim's answer to be held back") {
                        FileManager.default.fileExists(atPath: proxy.record + "/stalled")
                    }
                    try await eventually(.seconds(20), "the unseen claim's lease to expire") {
                        try await db.withConnection { connection in
                            try await connection.query(
                                "SELECT lease_owner IS NOT NULL AND lease_expires_at < now() FROM mcp_execution_queue WHERE execution_id = \(id)",
                                logger: TestLogging.logger
                            ).collect().first?.decode(Bool.self) ?? false
                        }
                    }
                    // A dead worker's execution whose lease expired even earlier: once it is taken
                    // over, a recovery round has seen the unseen claim's expired lease too.
                    let lost = try await Self.insertLostExecution(db, daemon: daemon, server: server, tool: "unsafe_write")
                    try await eventually(.seconds(20), "lease recovery to take over the dead worker's execution") {
                        try await db.executions([lost])[lost]?.status == "error"
                    }
                    let spared = try #require(try await db.executions([id])[id])
                    #expect(spared.status == "running", "the unseen claim's execution was spared: \(spared.errorMessage ?? "")")
                    #expect(flaky.calls("unsafe_write") == 0)

                    FileManager.default.createFile(atPath: proxy.record + "/release", contents: Data())
                    let rows = try await db.waitUntilTerminal([id], within: .seconds(20), "the late claim's execution to end")
                    #expect(rows[id]?.status == "success", "\(rows[id]?.errorMessage ?? "")")
                    #expect(rows[id]?.attempts == 1)
                    #expect(flaky.calls("unsafe_write") == 1, "it reached its tool once")
                }
            }
        }
    }

    @Test("a commit is not confirmed on a connection PostgreSQL closed: the statement fails at once, not after the answer timeout")
    func commitUnconfirmedOnClosedConnection() async throws {
        try await TestDatabase.with { db in
            try await db.withConnection { connection in
                try await StatementRunner.confirmCommit(on: connection, logger: TestLogging.logger)
                let pid = try await connection.query("SELECT pg_backend_pid()", logger: TestLogging.logger).collect()[0].decode(Int32.self)
                // What a restart does to a backend right after its commit.
                try await db.execute("SELECT pg_terminate_backend(\(pid))")
                try? await connection.closeFuture.get()
                // PostgresNIO would never answer the probe here: bounded, so a regression fails
                // rather than hangs.
                await #expect(throws: CommitUnconfirmed.self) {
                    try await abandoning(after: .seconds(10)) { try await StatementRunner.confirmCommit(on: connection, logger: TestLogging.logger) }
                }
            }
        }
    }

    /// Inserts an execution leased by a worker that died: `running`, its lease expired a minute ago.
    static func insertLostExecution(_ db: TestDatabase, daemon: TestDaemon, server: ServerDescriptor, tool: String) async throws -> UUID {
        let id = UUID()
        try await db.withConnection { connection in
            // One transaction, so the worker cannot claim it first.
            for sql in [
                "BEGIN",
                """
                INSERT INTO mcp_tool_executions (id, user_id, team_id, server_id, tool_id, input_parameters, status, attempts)
                SELECT '\(id)', gen_random_uuid(), '\(daemon.team)', '\(server.id)', t.id, '{"text": "lost"}', 'pending', 1
                FROM mcp_tools t WHERE t.server_id = '\(server.id)' AND t.tool_name = '\(tool)'
                """,
                """
                UPDATE mcp_execution_queue SET lease_owner = 'dead-worker', lease_token = gen_random_uuid(),
                    lease_expires_at = now() - interval '1 minute', attempt = 1
                WHERE execution_id = '\(id)'
                """,
                "UPDATE mcp_tool_executions SET status = 'running', started_at = now() WHERE id = '\(id)'",
                "COMMIT",
            ] {
                _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: TestLogging.logger).collect()
            }
        }
        return id
    }
}
