import Foundation
import Testing

@testable import AstraMCP

/// The systemd watchdog of a real daemon process, with a socket standing in for systemd's
/// `NOTIFY_SOCKET`.
extension DaemonProcessTests {
    @Test("WATCHDOG=1 stops once the engine is wedged (a step longer than any bounded wait), while the STATUS heartbeat goes on")
    func watchdogWithheldWhenWedged() async throws {
        let socket = try NotifySocket()
        defer { socket.close() }
        try await TestDatabase.with { db in
            let daemon = try DaemonProcess(
                ["run"],
                environment: environment(db, [
                    "NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "2000000", "ASTRA_MCPD_STATEMENT_TIMEOUT_SECONDS": "1",
                    "ASTRA_FAULT_INJECTION": "wedge-claim-loop",
                ]))
            defer { daemon.kill() }
            _ = try await socket.wait(for: "READY=1") { $0 == "READY=1" }
            try await eventually(.seconds(20), "watchdog pings while the engine moves") { socket.times(of: "WATCHDOG=1").count >= 2 }
            _ = try await enqueueSleep(db, seconds: 0)
            try await eventually(.seconds(90), "the watchdog to see the wedge; stderr: \(daemon.standardError)") {
                daemon.standardError.contains("the engine is stuck")
            }
            #expect(daemon.standardError.contains("stuck=\"claim loop for"), "\(daemon.standardError)")
            // From now on no ping: judged over two heartbeats (STATUS every 5 s), which the daemon
            // keeps sending, so the window is measured by its own events.
            let pingsAtWedge = socket.times(of: "WATCHDOG=1").count
            let statusesAtWedge = socket.fields.filter { $0.hasPrefix("STATUS=") }.count
            try await eventually(.seconds(30), "two more STATUS heartbeats") {
                socket.fields.filter { $0.hasPrefix("STATUS=") }.count >= statusesAtWedge + 2
            }
            #expect(socket.times(of: "WATCHDOG=1").count == pingsAtWedge, "no ping while wedged")
        }
    }

    @Test("the watchdog never delays shutdown: with pings every 300 s, SIGTERM still stops an idle daemon at once")
    func watchdogDoesNotDelayShutdown() async throws {
        let socket = try NotifySocket()
        defer { socket.close() }
        try await TestDatabase.with { db in
            let daemon = try DaemonProcess(["run"], environment: environment(db, ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "600000000"]))
            defer { daemon.kill() }
            _ = try await socket.wait(for: "READY=1") { $0 == "READY=1" }
            try await eventually(.seconds(20), "the first ping") { socket.times(of: "WATCHDOG=1").count >= 1 }
            daemon.terminate()
            // Were shutdown to wait for the watchdog's next ping, this would take 300 s.
            #expect(try await daemon.waitForExit(.seconds(60)) == 0, "\(daemon.standardError)")
            #expect(socket.fields.contains("STOPPING=1"))
        }
    }
}
