import Foundation
import Testing

@testable import AstraMCP

/// Server children come and go with the server rows, and come back after they die.
@Suite("Session lifecycle", .timeLimit(.minutes(2)))
struct SessionLifecycleTests {
    @Test("a stdio child killed with SIGKILL is restarted and later calls succeed")
    func restartsAfterKill() async throws {
        try await FlakyServer.with { state in
            try await TestDatabase.with { db in
                try await TestDaemon.with(db, configure: { $0.useShortLifecycleIntervals() }) { daemon in
                    let server = try await daemon.registerFlakyServer(state: state)
                    let first = try await daemon.run("idempotent_echo", on: server, arguments: #"{"text":"one"}"#)
                    #expect(first.status == "success")
                    let killed = try #require(state.pid)

                    kill(killed, SIGKILL)
                    // Nobody calls: the health checks bring it back.
                    try await eventually(.seconds(10), "a new child") { state.pid != killed && state.pid.map(isAlive) == true }
                    #expect(!isAlive(killed))

                    let second = try await daemon.run("idempotent_echo", on: server, arguments: #"{"text":"two"}"#)
                    #expect(second.status == "success", "\(second.errorMessage ?? "")")
                    #expect(second.outputText == "two")
                    #expect(second.attempts == 1)
                    #expect(state.calls("idempotent_echo") == 2)
                }
            }
        }
    }

    @Test("a new config stops the old child and an inactive server's child exits, without restarting the daemon")
    func followsServerRows() async throws {
        try await FlakyServer.with { before in
            try await FlakyServer.with { after in
                try await TestDatabase.with { db in
                    // Eager connect starts each session as soon as its row says so. No periodic
                    // health checks: see `staleRequestRestartsInactiveServer` for why.
                    let configure: (inout DaemonConfiguration) -> Void = {
                        $0.useShortLifecycleIntervals()
                        $0.eagerConnect = true
                        $0.healthCheckInterval = .seconds(3600)
                    }
                    try await TestDaemon.with(db, configure: configure) { daemon in
                        let server = try await daemon.registerFlakyServer(state: before, sync: false)
                        try await eventually(.seconds(10), "the first child") { before.pid.map(isAlive) == true }
                        let old = try #require(before.pid)
                        try await before.waitForSyncsToSettle()

                        let config = try TestDaemon.serverConfig(command: "python3", args: after.args, env: [:])
                        try await daemon.execute("UPDATE mcp_servers SET config = '\(config)'::jsonb WHERE id = '\(server.id)'")
                        try await eventually(.seconds(3), "the old child to exit") { !isAlive(old) }
                        try await eventually(.seconds(5), "a child with the new config") { after.pid.map(isAlive) == true }
                        #expect(before.pids == [old], "the old config was not started again")
                        let new = try #require(after.pid)
                        // Syncs in flight hold the row as it was: let them finish first (see below).
                        try await after.waitForSyncsToSettle()

                        try await daemon.execute("UPDATE mcp_servers SET is_active = false WHERE id = '\(server.id)'")
                        try await eventually(.seconds(3), "the inactive server's child to exit") { !isAlive(new) }
                        try await Task.sleep(for: .seconds(1))
                        #expect(after.pids == [new], "an inactive server is not started again (health checks, eager connect)")
                        #expect(daemon.parts.pool.serverIDs.isEmpty)
                    }
                }
            }
        }
    }

    /// Anything still holding the row from before a deactivation — a sync requested by
    /// list_changed or by the previous connect — must not start the inactive server again.
    /// Reproduced without timing luck by requesting that sync after the deactivation.
    @Test("a stale sync request does not start a deactivated server again")
    func staleRequestRestartsInactiveServer() async throws {
        try await FlakyServer.with { state in
            try await TestDatabase.with { db in
                try await TestDaemon.with(db, configure: { $0.useShortLifecycleIntervals(); $0.healthCheckInterval = .seconds(3600) }) { daemon in
                    let server = try await daemon.registerFlakyServer(state: state)
                    let first = try #require(state.pid)
                    try await daemon.execute("UPDATE mcp_servers SET is_active = false WHERE id = '\(server.id)'")
                    try await eventually(.seconds(3), "the child to exit") { !isAlive(first) }

                    daemon.parts.syncScheduler.requestSync(server)  // as onSessionReady / list_changed do
                    try await Task.sleep(for: .seconds(1))
                    #expect(state.pids == [first])
                    #expect(daemon.parts.pool.serverIDs.isEmpty)
                }
            }
        }
    }

    @Test("a server's revision grows when its config or is_active changes, not with the daemon's own writes")
    func revisionTrigger() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                let server = try await daemon.registerDemoServer("calc")
                let revision: @Sendable () async throws -> Int64 = {
                    try await daemon.database.query("SELECT revision FROM mcp_servers WHERE id = \(server.id)", logger: daemon.logger)
                        .collect()[0].decode(Int64.self)
                }
                let first = try await revision()
                try await daemon.execute("UPDATE mcp_servers SET is_healthy = false, circuit_state = 'open' WHERE id = '\(server.id)'")
                #expect(try await revision() == first)
                try await daemon.execute(#"UPDATE mcp_servers SET config = config || '{"sessions": 2}'::jsonb WHERE id = '\#(server.id)'"#)
                #expect(try await revision() == first + 1)
                try await daemon.execute("UPDATE mcp_servers SET revision = 0, is_active = false WHERE id = '\(server.id)'")
                #expect(try await revision() == first + 2, "a writer cannot set it back")
            }
        }
    }
}
