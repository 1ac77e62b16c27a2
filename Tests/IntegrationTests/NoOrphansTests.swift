import Foundation
import Testing

@testable import AstraMCP

/// `astra-mcpd run` leaves no server process behind when it stops.
@Suite("No orphaned children", .timeLimit(.minutes(2)))
struct NoOrphansTests {
    @Test("SIGTERM to the daemon: every stdio child it started (eager_connect) is gone when it exits")
    func sigtermStopsChildren() async throws {
        try await FlakyServer.with { one in
            try await FlakyServer.with { two in
                try await TestDatabase.with { db in
                    let team = UUID()
                    for (name, state) in [("one", one), ("two", two)] {
                        let config = try TestDaemon.serverConfig(command: "python3", args: state.args, env: [:])
                        try await db.execute("INSERT INTO mcp_servers (team_id, name, server_type, config) VALUES ('\(team)', '\(name)', 'stdio', '\(config)')")
                    }
                    let daemon = try DaemonProcess(["run"], environment: [
                        "ASTRA_MCPD_DATABASE_URL": db.url,
                        "ASTRA_MCPD_LOG_TARGET": "stderr",
                        "ASTRA_MCPD_SYNC_ON_START": "false",
                        "ASTRA_MCPD_EAGER_CONNECT": "true",
                        "ASTRA_MCPD_CHILD_EXIT_GRACE_SECONDS": "1",
                    ])
                    try await eventually(.seconds(20), "both children to start; stderr: \(daemon.standardError)") {
                        one.pid.map(isAlive) == true && two.pid.map(isAlive) == true
                    }
                    let pids = one.pids + two.pids
                    #expect(!processes(mentioning: one.directory).isEmpty, "the cmdline scan finds the children")

                    daemon.terminate()
                    let status = try await daemon.waitForExit()
                    #expect(status == 0, "stderr: \(daemon.standardError)")
                    for pid in pids {
                        #expect(!isAlive(pid), "child \(pid) outlived the daemon")
                    }
                    #expect(processes(mentioning: one.directory).isEmpty)
                    #expect(processes(mentioning: two.directory).isEmpty)
                }
            }
        }
    }
}
