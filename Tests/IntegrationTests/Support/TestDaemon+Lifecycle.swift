import Foundation
import PostgresNIO

@testable import AstraMCP

/// Steps of the server-lifecycle tests: server row reads and waits.
extension TestDaemon {
    /// Registers a flaky server run from `state`, and syncs its tools unless told not to.
    func registerFlakyServer(_ name: String = "flaky", state: FlakyServer, sync: Bool = true, healthChecks: Bool = true) async throws -> ServerDescriptor {
        let server = try await registerServer(name, command: "python3", args: state.args, healthChecks: healthChecks)
        if sync { try await self.sync(server) }
        return server
    }

    /// Waits until the background syncs of a newly started server are over: the scheduled one
    /// at insert was claimed and `last_synced_at` stopped moving for `quiet` (the sync after
    /// each connect follows it). Those syncs hold the row as it was when they were requested:
    /// one still pending when the test changes the row would start the old config again and
    /// write its tools back (a known bug of the session pool).
    func waitForBackgroundSyncs(_ server: ServerDescriptor, quiet: Duration = .milliseconds(500)) async throws {
        var last: String?? = .none
        let deadline = ContinuousClock.now + .seconds(15)
        while true {
            let now = try await serverColumn(
                "CASE WHEN next_sync_at > now() + interval '10 seconds' THEN last_synced_at::text ELSE 'due' END", of: server)
            if let last, last == now, now != "due" { return }
            guard ContinuousClock.now < deadline else { throw DeadlineExceeded(description: "\(server.name): background syncs did not settle") }
            last = now
            try await Task.sleep(for: quiet)
        }
    }

    /// One `mcp_servers` column as text (NULL as nil).
    func serverColumn(_ column: String, of server: ServerDescriptor) async throws -> String? {
        let rows = try await database.query(
            PostgresQuery(unsafeSQL: "SELECT (\(column))::text FROM mcp_servers WHERE id = '\(server.id)'"), logger: logger
        ).collect()
        guard let row = rows.first else { return nil }
        return try row.decode(String?.self)
    }

    /// Waits until the server's `column` (as text) satisfies `condition`.
    func waitForServer(
        _ server: ServerDescriptor, _ column: String, within limit: Duration = .seconds(10), _ what: String,
        _ condition: @escaping @Sendable (String?) -> Bool
    ) async throws {
        try await eventually(limit, "\(server.name): \(what)") { [self] in condition(try await serverColumn(column, of: server)) }
    }
}
