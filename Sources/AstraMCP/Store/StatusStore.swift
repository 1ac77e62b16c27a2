import Foundation
import Logging
import PostgresNIO

/// The fleet's state in the database: each instance's heartbeat, and the one-statement snapshot
/// `astra-mcpd status` shows (so it works from any host that reaches the database).
public struct StatusStore: Sendable {
    let runner: StatementRunner

    public init(database: PostgresClient, logger: Logger, answerTimeout: Duration = .seconds(45), metrics: EngineMetrics = .disabled) {
        runner = StatementRunner(database: database, logger: logger, answerTimeout: answerTimeout, metrics: metrics)
    }

    /// Says `instanceID` is alive, with its load and its live sessions per server.
    func heartbeat(instanceID: String, inFlight: Int, sessions: [UUID: Int]) async throws -> FleetGlance {
        let sessionsJSON = "{" + sessions.map { "\"\($0.key.uuidString.lowercased())\":\($0.value)" }.joined(separator: ",") + "}"
        return try await runner.rows(
            InstanceHeartbeatStatement(
                instanceID: instanceID, hostname: ProcessInfo.processInfo.hostName, pid: ProcessInfo.processInfo.processIdentifier,
                version: AstraMCPVersion.current, inFlight: Int32(clamping: inFlight), sessionsJSON: sessionsJSON)
        ).first ?? FleetGlance(readyExecutions: 0, failingServers: 0, openCircuits: 0)
    }

    /// Removes `instanceID`'s row: it stopped cleanly.
    func instanceGone(_ instanceID: String) async throws {
        _ = try await runner.rows(InstanceGoneStatement(instanceID: instanceID))
    }

    /// The whole status as one JSON document (see `astra-mcpd status --json`), on one
    /// connection of the caller's (a command fails at once when the database cannot be reached).
    public static func snapshotJSON(on connection: PostgresConnection, logger: Logger) async throws -> String {
        let rows = try await connection.query(PostgresQuery(unsafeSQL: snapshotSQL), logger: logger).collect()
        return try rows[0].decode(String.self)
    }

    /// Live instances are those heard from within a minute. Executions are counted among those
    /// enqueued within two hours (`executed_at` is indexed; an index on `completed_at` would cost
    /// every outcome write its HOT update).
    static let snapshotSQL = """
        SELECT json_build_object(
            'now', now(),
            'instances', (
                SELECT coalesce(json_agg(json_build_object(
                    'instance_id', instance_id, 'hostname', hostname, 'pid', pid, 'version', version,
                    'started_at', started_at, 'heartbeat_at', heartbeat_at, 'in_flight', in_flight) ORDER BY started_at), '[]')
                FROM mcp_daemon_instances WHERE heartbeat_at > now() - interval '60 seconds'),
            'queue', (
                SELECT json_build_object(
                    'ready', count(*) FILTER (WHERE lease_owner IS NULL AND available_at <= now()),
                    'waiting', count(*) FILTER (WHERE lease_owner IS NULL AND available_at > now()),
                    'running', count(*) FILTER (WHERE lease_owner IS NOT NULL),
                    'oldest_ready_seconds', extract(epoch FROM now() - min(enqueued_at) FILTER (WHERE lease_owner IS NULL AND available_at <= now())),
                    'awaiting_confirmation', (SELECT count(*) FROM mcp_awaiting_confirmation))
                FROM mcp_execution_queue),
            'executions', (
                SELECT json_build_object(
                    'finished_5m', count(*) FILTER (WHERE completed_at > now() - interval '5 minutes'),
                    'failed_5m', count(*) FILTER (WHERE completed_at > now() - interval '5 minutes' AND status NOT IN ('success', 'cancelled')),
                    'finished_60m', count(*),
                    'failed_60m', count(*) FILTER (WHERE status NOT IN ('success', 'cancelled')))
                FROM mcp_tool_executions WHERE executed_at > now() - interval '2 hours' AND completed_at > now() - interval '60 minutes'),
            'servers', (
                SELECT coalesce(json_agg(json_build_object(
                    'id', s.id, 'name', s.name, 'team_id', s.team_id, 'type', s.server_type, 'active', coalesce(s.is_active, true),
                    'status', s.connection_status, 'healthy', s.is_healthy, 'circuit', s.circuit_state, 'circuit_reason', s.circuit_reason,
                    'last_error', s.last_error,
                    'sessions', coalesce((SELECT sum((i.sessions->>s.id::text)::int) FROM mcp_daemon_instances i
                                          WHERE i.heartbeat_at > now() - interval '60 seconds'), 0)) ORDER BY s.name), '[]')
                FROM mcp_servers s),
            'callbacks', (
                SELECT json_build_object('backlog', count(*), 'oldest_seconds', extract(epoch FROM now() - min(created_at)))
                FROM mcp_callback_deliveries WHERE delivered_at IS NULL AND failed_at IS NULL)
        )::text
        """
}

/// This build's version, as instances report it.
public enum AstraMCPVersion {
    public static let current = MCPProtocol.clientVersion
}
