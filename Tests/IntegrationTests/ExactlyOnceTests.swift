import Foundation
import PostgresNIO
import Testing

@testable import AstraMCP

/// Whatever ends a worker mid-call, every execution ends once, and a tool that is not
/// idempotent never runs twice. The daemon runs as a real process, killed for real; the
/// server (`flaky_server.py`) logs each call before acting on it.
@Suite("Exactly once", .timeLimit(.minutes(3)))
struct ExactlyOnceTests {
    /// Registers the flaky server and syncs its tools with a short-lived in-process daemon;
    /// returns the server and the team.
    private func registerFlaky(_ db: TestDatabase, _ flaky: FlakyServer) async throws -> (ServerDescriptor, UUID) {
        try await TestDaemon.with(db) { daemon in
            (try await daemon.registerFlakyServer(state: flaky), daemon.team)
        }
    }

    private func environment(_ db: TestDatabase, _ extra: [String: String] = [:]) -> [String: String] {
        [
            "ASTRA_MCPD_DATABASE_URL": db.url,
            "ASTRA_MCPD_WORKER_ID": "exactly-once",
            "ASTRA_MCPD_LOG_TARGET": "stderr",
            "ASTRA_MCPD_SYNC_ON_START": "false",
            "ASTRA_MCPD_POLL_INTERVAL_SECONDS": "1",
            "ASTRA_MCPD_LEASE_SECONDS": "3",
            "ASTRA_MCPD_CHILD_EXIT_GRACE_SECONDS": "1",
            "ASTRA_MCPD_RETRY_BASE_DELAY_SECONDS": "0.1",
        ].merging(extra) { $1 }
    }

    @Test("SIGKILL mid-batch: after a restart every execution is terminal, the non-idempotent tool ran once each, the idempotent ones succeed")
    func sigkillMidBatch() async throws {
        try await TestDatabase.with { db in
            try await FlakyServer.with { flaky in
                let (server, team) = try await registerFlaky(db, flaky)
                try flaky.setHoldCalls(true)
                let unsafe = try await db.enqueueMany("unsafe_write", on: server, team: team, count: 4)
                let safe = try await db.enqueueMany("idempotent_echo", on: server, team: team, count: 4)

                let first = try DaemonProcess(["run"], environment: environment(db))
                try await flaky.waitForCalls("unsafe_write", 4)
                try await flaky.waitForCalls("idempotent_echo", 4)
                first.kill()
                _ = try await first.waitForExit()
                try flaky.setHoldCalls(false)

                // The same configured worker id: the new process must not take the old leases
                // for its own, and takes them over once they expire.
                let restarted = ContinuousClock.now
                let second = try DaemonProcess(["run"], environment: environment(db))
                let rows = try await db.waitUntilTerminal(unsafe + safe, "every execution to end after the restart; stderr: \(second.standardError)")
                let recovery = ContinuousClock.now - restarted
                second.terminate()
                #expect(try await second.waitForExit() == 0)

                #expect(flaky.calls("unsafe_write") == 4, "each non-idempotent execution reached its tool once")
                for id in unsafe {
                    #expect(rows[id]?.status == "error")
                    #expect(rows[id]?.errorMessage?.contains("the worker was lost during the call; not retried because the tool is not idempotent") == true,
                            "\(rows[id]?.errorMessage ?? "")")
                    #expect(rows[id]?.queued == false)
                }
                for id in safe {
                    #expect(rows[id]?.status == "success", "\(rows[id]?.errorMessage ?? "")")
                    #expect(rows[id]?.attempts == 2, "the lost attempt counts")
                }
                #expect(flaky.calls("idempotent_echo") == 8)
                #expect(recovery < .seconds(30), "recovered within seconds of the 3 s lease, not minutes: \(recovery)")
            }
        }
    }

    @Test("SIGTERM past the grace: a call in flight to a non-idempotent tool ends error and never runs again; an idempotent one is handed back")
    func sigtermPastGrace() async throws {
        try await TestDatabase.with { db in
            try await FlakyServer.with { flaky in
                let (server, team) = try await registerFlaky(db, flaky)
                try flaky.setHoldCalls(true)
                let unsafe = try await db.enqueueMany("unsafe_write", on: server, team: team, count: 1)[0]
                let safe = try await db.enqueueMany("idempotent_echo", on: server, team: team, count: 1)[0]

                let daemon = try DaemonProcess(["run"], environment: environment(db, ["ASTRA_MCPD_SHUTDOWN_GRACE_SECONDS": "0.5"]))
                try await flaky.waitForCalls("unsafe_write", 1)
                try await flaky.waitForCalls("idempotent_echo", 1)
                daemon.terminate()
                #expect(try await daemon.waitForExit() == 0, "stderr: \(daemon.standardError)")

                let rows = try await db.executions([unsafe, safe])
                #expect(rows[unsafe]?.status == "error")
                #expect(rows[unsafe]?.errorMessage?.contains("not retried because the tool is not idempotent") == true, "\(rows[unsafe]?.errorMessage ?? "")")
                #expect(rows[unsafe]?.queued == false)
                #expect(rows[safe]?.status == "pending")
                #expect(rows[safe]?.queued == true)
                #expect(rows[safe]?.leaseOwner == nil)

                // The next daemon runs the handed-back one; the other is never sent again.
                try flaky.setHoldCalls(false)
                let rerun = try await TestDaemon.with(db) { _ in
                    try await db.waitUntilTerminal([safe], "the handed-back execution to run")
                }
                #expect(rerun[safe]?.status == "success")
                #expect(flaky.calls("unsafe_write") == 1)
            }
        }
    }
}
