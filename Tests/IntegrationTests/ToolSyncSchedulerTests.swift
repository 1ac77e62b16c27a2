import Foundation
import PostgresNIO
import Testing

@testable import AstraMCP

/// Tool syncs without `astra-mcpd sync`: on list_changed, on the backend's request, on schedule.
@Suite("Scheduled and requested tool syncs", .timeLimit(.minutes(2)))
struct ToolSyncSchedulerTests {
    /// Short intervals, but no periodic health checks: a check that reconnects a session
    /// triggers a sync of its own, which these tests must not mistake for the one they expect.
    private static func settings(_ configuration: inout DaemonConfiguration) {
        configuration.useShortLifecycleIntervals()
        configuration.healthCheckInterval = .seconds(3600)
    }

    /// `column` of tool `name` as text; nil when there is no such row.
    private func tool(_ daemon: TestDaemon, _ server: ServerDescriptor, _ name: String, _ column: String) async throws -> String? {
        let rows = try await daemon.database.query(
            PostgresQuery(unsafeSQL: "SELECT (\(column))::text FROM mcp_tools WHERE server_id = '\(server.id)' AND tool_name = '\(name)'"),
            logger: daemon.logger
        ).collect()
        guard let row = rows.first else { return nil }
        return try row.decode(String?.self)
    }

    /// Waits until the scheduler made its one sync at insert, so the next one is an hour away.
    private func waitForInitialScheduledSync(_ daemon: TestDaemon, _ server: ServerDescriptor) async throws {
        try await daemon.waitForServer(server, "next_sync_at > now() + interval '10 minutes' AND last_synced_at IS NOT NULL", "the sync at insert") {
            $0 == "true"
        }
    }

    @Test("notifications/tools/list_changed syncs the server's tools at once")
    func listChanged() async throws {
        try await FlakyServer.with { state in
            try await TestDatabase.with { db in
                try await TestDaemon.with(db, configure: Self.settings) { daemon in
                    let server = try await daemon.registerFlakyServer(state: state)
                    try await waitForInitialScheduledSync(daemon, server)
                    try await state.waitForSyncsToSettle()
                    #expect(try await tool(daemon, server, "fresh", "id") == nil)

                    let added = try await daemon.run("add_tool", on: server, arguments: #"{"name":"fresh"}"#)
                    #expect(added.status == "success", "\(added.errorMessage ?? "")")
                    try await eventually(.seconds(2), "tool 'fresh' in mcp_tools") {
                        try await tool(daemon, server, "fresh", "removed_at IS NULL AND is_enabled") == "true"
                    }
                    let echoed = try await daemon.run("fresh", on: server, arguments: #"{"text":"new"}"#)
                    #expect(echoed.outputText == "new")
                }
            }
        }
    }

    @Test("sync_requested_at makes a sync now: a tool the server does not offer is disabled")
    func requested() async throws {
        try await FlakyServer.with { state in
            try await TestDatabase.with { db in
                try await TestDaemon.with(db, configure: Self.settings) { daemon in
                    let server = try await daemon.registerFlakyServer(state: state)
                    try await waitForInitialScheduledSync(daemon, server)
                    try await state.waitForSyncsToSettle()
                    try await daemon.addTool("ghost", to: server)

                    try await daemon.execute("UPDATE mcp_servers SET sync_requested_at = now() WHERE id = '\(server.id)'")
                    try await eventually(.seconds(3), "tool 'ghost' to be marked removed") {
                        try await tool(daemon, server, "ghost", "removed_at IS NOT NULL AND NOT is_enabled") == "true"
                    }
                    try await eventually(.seconds(3), "the request to be consumed") {
                        try await daemon.serverColumn("sync_requested_at", of: server) == nil
                    }
                    #expect(try await tool(daemon, server, "idempotent_echo", "removed_at IS NULL") == "true")
                }
            }
        }
    }

    @Test("operator settings of an offered tool survive a sync")
    func operatorSettingsSurvive() async throws {
        try await FlakyServer.with { state in
            try await TestDatabase.with { db in
                try await TestDaemon.with(db, configure: Self.settings) { daemon in
                    let server = try await daemon.registerFlakyServer(state: state)
                    try await waitForInitialScheduledSync(daemon, server)
                    try await state.waitForSyncsToSettle()
                    try await daemon.execute("""
                        UPDATE mcp_tools SET timeout_seconds = 7, requires_confirmation = true, max_attempts = 5, is_idempotent = false
                        WHERE server_id = '\(server.id)' AND tool_name = 'idempotent_echo'
                        """)
                    try await daemon.execute("UPDATE mcp_tools SET is_enabled = false WHERE server_id = '\(server.id)' AND tool_name = 'unsafe_write'")
                    let syncedBefore = try await daemon.serverColumn("last_synced_at", of: server)
                    try await daemon.execute("UPDATE mcp_servers SET sync_requested_at = now() WHERE id = '\(server.id)'")
                    // last_synced_at is written after the tools are.
                    try await daemon.waitForServer(server, "last_synced_at", within: .seconds(10), "the requested sync to be recorded") { $0 != syncedBefore }

                    let echo = "timeout_seconds || ',' || requires_confirmation || ',' || max_attempts || ',' || is_idempotent || ',' || is_enabled || ',' || (removed_at IS NULL)"
                    #expect(try await tool(daemon, server, "idempotent_echo", echo) == "7,true,5,false,true,true")
                    #expect(try await tool(daemon, server, "unsafe_write", "is_enabled || ',' || (removed_at IS NULL)") == "false,true")
                    #expect(try await tool(daemon, server, "idempotent_echo", "synced_at > now() - interval '3 seconds'") == "true")
                }
            }
        }
    }

    @Test("two daemons on one database sync each server once per interval, not once per daemon")
    func twoDaemons() async throws {
        try await FlakyServer.with { state in
            try await TestDatabase.with { db in
                let configure: @Sendable (String) -> (inout DaemonConfiguration) -> Void = { worker in
                    { configuration in
                        configuration.useShortLifecycleIntervals()
                        configuration.healthCheckInterval = .seconds(3600)
                        configuration.toolSyncInterval = .seconds(1)
                        configuration.workerID = worker
                    }
                }
                try await TestDaemon.with(db, configure: configure("daemon-a")) { a in
                    try await TestDaemon.with(db, configure: configure("daemon-b")) { b in
                        let server = try await a.registerFlakyServer(state: state, sync: false)
                        // Both daemons hold a session, so no later sync is a sync-after-connect.
                        _ = try await a.parts.pool.session(for: server)
                        _ = try await b.parts.pool.session(for: server)
                        try await Task.sleep(for: .milliseconds(500))

                        let before = state.toolListings
                        var syncTimes: Set<String> = []
                        let end = ContinuousClock.now + .milliseconds(3500)
                        while ContinuousClock.now < end {
                            if let synced = try await a.serverColumn("last_synced_at", of: server) { syncTimes.insert(synced) }
                            try await Task.sleep(for: .milliseconds(50))
                        }
                        let syncs = state.toolListings - before
                        #expect((2...5).contains(syncs), "tools/list \(syncs) times in 3.5 s with a 1 s interval")
                        // The first value seen predates the window, so one more than the syncs counted.
                        #expect((2...7).contains(syncTimes.count), "last_synced_at took \(syncTimes.count) values")
                    }
                }
            }
        }
    }
}
