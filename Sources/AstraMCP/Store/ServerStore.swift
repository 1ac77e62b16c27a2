import Foundation
import Logging
import PostgresNIO

/// The server lifecycle's database side: reading server rows, claiming due health checks and
/// tool syncs, and recording health, connections, tools and circuits. Each call is one round
/// trip; the SQL is in `LifecycleStatements.swift` and `ServerStatements.swift`.
public struct ServerStore: Sendable {
    let runner: StatementRunner

    /// - Parameter answerTimeout: How long to wait for a statement's answer before giving up
    ///   (beyond the session's `statement_timeout`).
    public init(database: PostgresClient, logger: Logger, answerTimeout: Duration = .seconds(45), metrics: EngineMetrics = .disabled) {
        runner = StatementRunner(database: database, logger: logger, answerTimeout: answerTimeout, metrics: metrics)
    }

    // MARK: Server rows

    /// The server's row, active or not; nil when it was deleted.
    func server(id: UUID) async throws -> ServerDescriptor? {
        try await runner.rows(ServerByIDStatement(id: id)).first
    }

    /// Every active server, or only the one named (by name or id).
    func activeServers(nameOrID: String? = nil) async throws -> [ServerDescriptor] {
        try await runner.rows(ActiveServersStatement(nameOrID: nameOrID))
    }

    // MARK: Periodic work

    /// Claims up to `limit` servers due for a health check; their next one is `interval` away.
    func claimDueHealthChecks(limit: Int, interval: Duration) async throws -> [ServerDescriptor] {
        try await runner.rows(ClaimDueHealthChecksStatement(limit: limit, intervalSeconds: Backoff.milliseconds(interval) / 1000))
    }

    /// Claims up to `limit` servers due for a tool sync; their next one is `interval` away.
    func claimDueSyncs(limit: Int, interval: Duration) async throws -> [ServerDescriptor] {
        try await runner.rows(ClaimDueSyncsStatement(limit: limit, intervalSeconds: Backoff.milliseconds(interval) / 1000))
    }

    /// How long until the next server is due for each kind of work, at most `horizon` (also when
    /// there are no active servers); zero when one is overdue.
    func timeUntilDue(within horizon: Duration) async throws -> (health: Duration, sync: Duration) {
        let seconds = Backoff.milliseconds(horizon) / 1000
        let row = try await runner.rows(SecondsUntilDueStatement(horizon: Date().addingTimeInterval(seconds))).first
        func clamp(_ value: Double?) -> Duration { .milliseconds(Int64(max(0, min(value ?? seconds, seconds)) * 1000)) }
        return (clamp(row?.0), clamp(row?.1))
    }

    /// Makes every active server's tool sync due now.
    func scheduleAllSyncsNow() async throws {
        _ = try await runner.rows(ScheduleAllSyncsNowStatement())
    }

    /// Brings every server's next health check and tool sync within the given intervals (a
    /// reload shortened them).
    func bringSchedules(healthWithin health: Duration, syncWithin sync: Duration) async throws {
        _ = try await runner.rows(BringSchedulesWithinStatement(
            healthSeconds: Double(Backoff.milliseconds(health)) / 1000, syncSeconds: Double(Backoff.milliseconds(sync)) / 1000))
    }

    // MARK: Recording outcomes

    /// How a health check changed a server.
    struct HealthChange: Sendable {
        var wasHealthy: Bool
        var isHealthy: Bool
        /// Unhealthy for longer than allowed, and deactivated for it.
        var deactivated: Bool
    }

    /// Records a health check; nil when the server's row is gone.
    func recordHealth(
        serverID: UUID, failure: String?, unhealthyAfter: Duration, deactivateUnhealthy: Bool
    ) async throws -> HealthChange? {
        let statement = RecordHealthStatement(
            serverID: serverID, healthy: failure == nil, error: failure, unhealthyAfterSeconds: Backoff.milliseconds(unhealthyAfter) / 1000,
            deactivateUnhealthy: deactivateUnhealthy)
        return try await runner.rows(statement).first.map { HealthChange(wasHealthy: $0.0, isHealthy: $0.1, deactivated: $0.2) }
    }

    /// Copies a server's `tools/list` (JSON object texts) into `mcp_tools`; returns how many
    /// tools it offers and how many it no longer offers.
    func syncTools(serverID: UUID, tools: [String]) async throws -> (offered: Int, removed: Int) {
        let row = try await runner.rows(SyncToolsStatement(serverID: serverID, toolsJSON: "[" + tools.joined(separator: ",") + "]")).first
        return (Int(row?.0 ?? 0), Int(row?.1 ?? 0))
    }

    /// Records whether the daemon could connect to a server, and why not.
    func recordConnection(serverID: UUID, status: String, error: String?) async throws {
        _ = try await runner.rows(RecordConnectionStatement(serverID: serverID, status: status, lastError: error))
    }

    /// Records a circuit transition for the other daemons (`open` with how long it stays open).
    func recordCircuit(serverID: UUID, state: String, reason: String?, openFor: Duration?) async throws {
        _ = try await runner.rows(RecordCircuitStatement(serverID: serverID, state: state, reason: reason, openFor: openFor))
    }

    /// The circuits recorded for one server, or for every server.
    func circuitStates(serverID: UUID?) async throws -> [RecordedCircuit] {
        try await runner.rows(CircuitStatesStatement(serverID: serverID))
    }
}
