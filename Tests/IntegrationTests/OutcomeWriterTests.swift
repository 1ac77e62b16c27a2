import Foundation
import PostgresNIO
import Testing

@testable import AstraMCP

/// Whatever PostgreSQL would refuse for one execution stays with that execution: it ends
/// `error` with the reason while the rest of the traffic flows, and the writer never stalls.
@Suite("Outcome writer faults", .timeLimit(.minutes(2)))
struct OutcomeWriterTests {
    @Test("a NUL byte in a server's stderr ends that execution with a readable error; the calls beside it succeed")
    func nulInStderr() async throws {
        try await TestDatabase.with { db in
            try await FlakyServer.with { flaky in
                try await TestDaemon.with(db, configure: { $0.useShortLifecycleIntervals() }) { daemon in
                    let server = try await daemon.registerFlakyServer(state: flaky)
                    let (ids, _) = try await daemon.runToCompletion {
                        let crash = try await daemon.enqueue("nul_crash", on: server, arguments: "{}")
                        let echoes = try await daemon.enqueueMany("idempotent_echo", on: server, count: 5, argumentsSQL: #"'{"text": "fine"}'::jsonb"#)
                        return [crash] + echoes
                    }
                    let crashed = try await daemon.execution(ids[0])
                    #expect(crashed.status == "error")
                    let message = try #require(crashed.errorMessage)
                    #expect(message.contains("before\u{FFFD}after"), "\(message)")
                    for id in ids.dropFirst() {
                        let row = try await daemon.execution(id)
                        #expect(row.status == "success", "\(row.errorMessage ?? "")")
                    }
                }
            }
        }
    }

    @Test("a tool counter at 2^31 - 1 goes on counting")
    func counterPastInt32() async throws {
        try await TestDatabase.with { db in
            try await FlakyServer.with { flaky in
                try await TestDaemon.with(db) { daemon in
                    let server = try await daemon.registerFlakyServer(state: flaky)
                    try await daemon.execute("""
                        UPDATE mcp_tools SET execution_count = 2147483647, success_count = 2147483647, error_count = 0, avg_duration_ms = 5
                        WHERE server_id = '\(server.id)' AND tool_name = 'idempotent_echo'
                        """)
                    let row = try await daemon.run("idempotent_echo", on: server, arguments: #"{"text": "one more"}"#)
                    #expect(row.status == "success", "\(row.errorMessage ?? "")")
                    let counts = try await daemon.database.query(
                        "SELECT execution_count, success_count FROM mcp_tools WHERE server_id = \(server.id) AND tool_name = 'idempotent_echo'",
                        logger: daemon.logger
                    ).collect()[0].decode((Int64, Int64).self)
                    #expect(counts.0 == 2_147_483_648)
                    #expect(counts.1 == 2_147_483_648)
                }
            }
        }
    }

    @Test("a result over max_message_bytes ends its own execution with a clear error; the session and the calls beside it go on")
    func oversizedResult() async throws {
        try await TestDatabase.with { db in
            try await FlakyServer.with { flaky in
                try await TestDaemon.with(db, configure: { $0.maxMessageBytes = 64 << 10 }) { daemon in
                    let server = try await daemon.registerFlakyServer(state: flaky)
                    let (ids, _) = try await daemon.runToCompletion {
                        let big = try await daemon.enqueue("big", on: server, arguments: #"{"bytes": 200000}"#)
                        let small = try await daemon.enqueue("big", on: server, arguments: #"{"bytes": 1000}"#)
                        let echoes = try await daemon.enqueueMany("idempotent_echo", on: server, count: 5, argumentsSQL: #"'{"text": "fine"}'::jsonb"#)
                        return [big, small] + echoes
                    }
                    let big = try await daemon.execution(ids[0])
                    #expect(big.status == "error")
                    #expect(big.errorMessage?.contains("over the limit of 65536 (max_message_bytes)") == true, "\(big.errorMessage ?? "")")
                    #expect(big.attempts == 1, "a reply too large is not retried")
                    for id in ids.dropFirst() {
                        let row = try await daemon.execution(id)
                        #expect(row.status == "success", "\(row.errorMessage ?? "")")
                    }
                    #expect(flaky.pids.count == 1, "the session was not restarted")
                }
            }
        }
    }

    @Test("a server whose calls keep timing out is replaced, and later calls succeed")
    func hungServerIsReplaced() async throws {
        try await TestDatabase.with { db in
            try await FlakyServer.with { flaky in
                try await TestDaemon.with(db, configure: { $0.useShortLifecycleIntervals() }) { daemon in
                    let server = try await daemon.registerFlakyServer(state: flaky)
                    try await daemon.execute("""
                        UPDATE mcp_tools SET timeout_seconds = 1, max_attempts = 1 WHERE server_id = '\(server.id)' AND tool_name = 'idempotent_echo'
                        """)
                    // The running process hangs from now on; a new one will not.
                    try flaky.setHang(true)
                    daemon.parts.pool.retire(serverID: server.id, reason: "test: restart it hung")
                    try await daemon.sync(server)  // tools/list is still answered: it starts the hung process
                    try flaky.setHang(false)
                    // Three calls in a row time out (calls timing out together count once).
                    for n in 1...3 {
                        let row = try await daemon.run("idempotent_echo", on: server, arguments: #"{"text": "stuck \#(n)"}"#)
                        #expect(row.status == "timeout")
                    }
                    let after = try await daemon.run("idempotent_echo", on: server, arguments: #"{"text": "alive"}"#)
                    #expect(after.status == "success", "\(after.errorMessage ?? "")")
                    #expect(after.outputText == "alive")
                    #expect(flaky.pids.count == 3, "the first process, the hung one, and its replacement: \(flaky.pids)")
                }
            }
        }
    }
}
