import Foundation
import Testing

@testable import AstraMCP

/// The health monitor records each server's health on its row and deactivates the hopeless.
@Suite("Health checks", .timeLimit(.minutes(2)))
struct HealthMonitorTests {
    @Test("a healthy server is 'connected' and healthy; a missing command is 'error' naming the cause, unhealthy after unhealthy_after")
    func records() async throws {
        try await FlakyServer.with { state in
            try await TestDatabase.with { db in
                try await TestDaemon.with(db, configure: { $0.useShortLifecycleIntervals(); $0.unhealthyAfter = .seconds(1) }) { daemon in
                    let healthy = try await daemon.registerFlakyServer(state: state, sync: false)
                    let broken = try await daemon.registerServer("broken", command: "/nonexistent")

                    try await daemon.waitForServer(healthy, "CASE WHEN last_health_check_at IS NOT NULL THEN connection_status END", "a passing check") {
                        $0 == "connected"
                    }
                    #expect(try await daemon.serverColumn("is_healthy", of: healthy) == "true")
                    #expect(try await daemon.serverColumn("last_connected_at IS NOT NULL", of: healthy) == "true")
                    #expect(try await daemon.serverColumn("failing_since", of: healthy) == nil)
                    #expect(try await daemon.serverColumn("last_error", of: healthy) == nil)

                    try await daemon.waitForServer(broken, "CASE WHEN last_health_check_at IS NOT NULL THEN connection_status END", "a failing check") {
                        $0 == "error"
                    }
                    let error = try await daemon.serverColumn("last_error", of: broken) ?? ""
                    #expect(error.contains("/nonexistent") && error.contains("not found"), "\(error)")
                    #expect(try await daemon.serverColumn("failing_since IS NOT NULL", of: broken) == "true")

                    try await daemon.waitForServer(broken, "is_healthy", "unhealthy after 1 s of failures") { $0 == "false" }
                    #expect(try await daemon.serverColumn("is_active", of: broken) == "true", "deactivate_unhealthy is off")
                    #expect(try await daemon.serverColumn("is_healthy", of: healthy) == "true")
                }
            }
        }
    }

    @Test("with deactivate_unhealthy, a server failing for longer than unhealthy_after is deactivated with the reason")
    func deactivates() async throws {
        try await FlakyServer.with { state in
            try await TestDatabase.with { db in
                let configure: (inout DaemonConfiguration) -> Void = {
                    $0.useShortLifecycleIntervals()
                    $0.unhealthyAfter = .seconds(1)
                    $0.deactivateUnhealthy = true
                }
                try await TestDaemon.with(db, configure: configure) { daemon in
                    let healthy = try await daemon.registerFlakyServer(state: state, sync: false)
                    let broken = try await daemon.registerServer("broken", command: "/nonexistent")

                    try await daemon.waitForServer(broken, "is_active", "deactivation") { $0 == "false" }
                    let reason = try await daemon.serverColumn("deactivated_reason", of: broken) ?? ""
                    #expect(reason.hasPrefix("unhealthy since "), "\(reason)")
                    #expect(reason.contains("/nonexistent"), "\(reason)")
                    #expect(try await daemon.serverColumn("is_healthy", of: broken) == "false")

                    // Checks stop for the inactive server; the healthy one is left alone.
                    let lastCheck = try await daemon.serverColumn("last_health_check_at", of: broken)
                    try await Task.sleep(for: .milliseconds(1200))
                    #expect(try await daemon.serverColumn("last_health_check_at", of: broken) == lastCheck)
                    #expect(try await daemon.serverColumn("is_active AND is_healthy AND deactivated_reason IS NULL", of: healthy) == "true")
                }
            }
        }
    }

    @Test("a server that cannot start is 'error'; once it starts again it is 'connected' and failing_since is cleared")
    func recovers() async throws {
        try await FlakyServer.with { state in
            try await TestDatabase.with { db in
                try await TestDaemon.with(db, configure: { $0.useShortLifecycleIntervals() }) { daemon in
                    try state.setDown(true)
                    let server = try await daemon.registerFlakyServer(state: state, sync: false)
                    try await daemon.waitForServer(server, "CASE WHEN last_health_check_at IS NOT NULL AND failing_since IS NOT NULL THEN connection_status END", "a failing check") {
                        $0 == "error"
                    }
                    let error = try await daemon.serverColumn("last_error", of: server) ?? ""
                    #expect(error.contains("exited during initialize"), "\(error)")
                    #expect(error.contains("flaky_server: down"), "the tail of its stderr: \(error)")

                    try state.setDown(false)
                    try await daemon.waitForServer(server, "connection_status", "recovery") { $0 == "connected" }
                    try await daemon.waitForServer(server, "failing_since IS NULL AND is_healthy AND last_error IS NULL", "a clean record") { $0 == "true" }
                }
            }
        }
    }
}

/// Health of a remote server over Streamable HTTP.
@Suite("Health of HTTP servers", .timeLimit(.minutes(2)))
struct HTTPHealthTests {
    @Test("an HTTP server killed mid-run goes to error within two intervals, and back to connected after it restarts")
    func killedAndRestarted() async throws {
        try await PythonHTTPServer.with { http in
            try await TestDatabase.with { db in
                try await TestDaemon.with(db, configure: { $0.useShortLifecycleIntervals(); $0.healthCheckInterval = .seconds(1) }) { daemon in
                    let server = try await daemon.registerHTTPServer("remote", url: http.url)
                    try await daemon.waitForServer(server, "connection_status", "connected") { $0 == "connected" }
                    // The sync that follows the connect: the last step runs a tool.
                    try await daemon.waitForServer(server, "last_synced_at IS NOT NULL", "its tools") { $0 == "true" }

                    http.kill()
                    let killed = ContinuousClock.now
                    try await daemon.waitForServer(server, "connection_status", within: .seconds(6), "error after the kill") { $0 == "error" }
                    #expect(ContinuousClock.now - killed < .seconds(3) + .seconds(2), "within two intervals (and a little slack)")
                    let lastError = try await daemon.serverColumn("last_error", of: server) ?? ""
                    #expect(lastError.contains("remote"), "\(lastError)")

                    try await http.start()
                    try await daemon.waitForServer(server, "connection_status", within: .seconds(10), "connected again") { $0 == "connected" }
                    #expect(try await daemon.serverColumn("failing_since", of: server) == nil)
                    #expect(try await daemon.run("add", on: server, arguments: #"{"a":1,"b":1}"#).status == "success")
                }
            }
        }
    }
}
