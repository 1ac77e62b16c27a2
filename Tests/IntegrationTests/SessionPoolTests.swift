import Foundation
import Testing

@testable import AstraMCP

/// More than one session per server, for servers that answer one request at a time, and the
/// daemon's LISTENs sharing one connection.
@Suite("Session pool size", .timeLimit(.minutes(2)))
struct SessionPoolTests {
    /// Runs six 300 ms calls at once on a server that answers one request at a time and
    /// returns the process ids (one per session) that answered.
    private func burst(on server: ServerDescriptor, daemon: TestDaemon) async throws -> [String] {
        let (ids, _) = try await daemon.runToCompletion {
            try await daemon.enqueueMany("slow_pid", on: server, count: 6, argumentsSQL: "jsonb_build_object('ms', 300)")
        }
        let rows = try await ExecutionRow.fetchAll(ids, from: daemon.database, logger: daemon.logger)
        #expect(rows.values.allSatisfy { $0.status == "success" }, "\(rows.values.compactMap(\.errorMessage))")
        return rows.values.compactMap(\.outputText)
    }

    @Test("a server with \"sessions\": 3 gets further sessions while the open ones are busy; the default is one")
    func growsUpToItsSize() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                let pooled = try await daemon.registerServer(
                    "serial-pooled", command: "python3", args: ["-u", TestPaths.fastServer, "--serial-tool"], extraConfig: ["sessions": 3])
                let single = try await daemon.registerServer("serial-single", command: "python3", args: ["-u", TestPaths.fastServer, "--serial-tool"])
                for server in [pooled, single] { try await daemon.sync(server) }

                let pooledPIDs = try await burst(on: pooled, daemon: daemon)
                #expect(pooledPIDs.count == 6)
                #expect(Set(pooledPIDs).count == 3, "the calls were spread over three sessions: \(pooledPIDs)")
                #expect(daemon.parts.pool.sessionCount(serverID: pooled.id) == 3)

                let singlePIDs = try await burst(on: single, daemon: daemon)
                #expect(Set(singlePIDs).count == 1, "one session by default: \(singlePIDs)")
                #expect(daemon.parts.pool.sessionCount(serverID: single.id) == 1)

                // A smaller size reaches the pool without a restart: the surplus sessions stop.
                let surplus = Set(pooledPIDs).compactMap { pid_t($0) }
                try await daemon.execute(#"UPDATE mcp_servers SET config = config || '{"sessions": 1}' WHERE id = '\#(pooled.id)'"#)
                try await eventually(.seconds(5), "the surplus sessions to stop") {
                    daemon.parts.pool.sessionCount(serverID: pooled.id) == 1 && surplus.filter(isAlive).count == 1
                }
                let after = try await daemon.run("slow_pid", on: pooled, arguments: #"{"ms": 1}"#)
                #expect(after.status == "success")
                #expect(after.outputText.flatMap { pid_t($0) }.map(isAlive) == true)
            }
        }
    }

    @Test("a server's \"sessions\" outside 1…64 fails its executions with a message naming it")
    func rejectsBadSize() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                let server = try await daemon.registerServer(
                    "bad-size", command: "python3", args: ["-u", TestPaths.fastServer], extraConfig: ["sessions": 0])
                try await daemon.addTool("add", to: server)
                let row = try await daemon.run("add", on: server, arguments: #"{"a": 1, "b": 2}"#)
                #expect(row.status == "error")
                #expect(row.errorMessage?.contains("\"sessions\" must be an integer from 1 to 64") == true, "\(row.errorMessage ?? "")")
            }
        }
    }

    @Test("the pending, server and credential channels are listened on one connection")
    func oneListenConnection() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                let listening = {
                    try await daemon.database.query(
                        """
                        SELECT count(*)::int FROM pg_stat_activity
                        WHERE datname = current_database() AND query ILIKE 'LISTEN%' AND query NOT ILIKE '%astra_mcpd_finished%'
                        """, logger: daemon.logger
                    ).collect()[0].decode(Int.self)
                }
                let server = try await daemon.registerFastServer()
                try await daemon.sync(server)
                #expect(try await daemon.run("add", on: server, arguments: #"{"a": 2, "b": 3}"#).outputText == "5")

                // By now every LISTEN has run (each is issued before its first notification). The
                // test's own wait for astra_mcpd_finished may not have sent its UNLISTEN yet.
                #expect(try await listening() == 1)
            }
        }
    }
}
