import Foundation
import PostgresNIO

// The statements of `mcp_daemon_instances` (migrations/0014_daemon_instances.sql).

/// Says this instance is alive, how busy it is and which sessions it holds; deletes the rows of
/// instances silent for an hour; and answers what systemd's status line shows of the fleet: the
/// executions ready to run, and the active servers failing or with a circuit not closed.
struct InstanceHeartbeatStatement: PostgresPreparedStatement {
    static let sql = """
        WITH beat AS (
            INSERT INTO mcp_daemon_instances AS i (instance_id, hostname, pid, version, in_flight, sessions)
            VALUES ($1, $2, $3, $4, $5, $6::jsonb)
            ON CONFLICT (instance_id) DO UPDATE
            SET heartbeat_at = now(), in_flight = EXCLUDED.in_flight, sessions = EXCLUDED.sessions
        ), gone AS (
            DELETE FROM mcp_daemon_instances WHERE heartbeat_at < now() - interval '1 hour' AND instance_id <> $1
        )
        SELECT (SELECT count(*) FROM mcp_execution_queue WHERE lease_owner IS NULL AND available_at <= now()),
               (SELECT count(*) FROM mcp_servers WHERE coalesce(is_active, true) AND NOT is_healthy),
               (SELECT count(*) FROM mcp_servers WHERE coalesce(is_active, true) AND circuit_state <> 'closed')
        """
    typealias Row = FleetGlance

    var instanceID: String
    var hostname: String
    var pid: Int32
    var version: String
    var inFlight: Int32
    var sessionsJSON: String

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 6)
        bindings.append(instanceID)
        bindings.append(hostname)
        bindings.append(pid)
        bindings.append(version)
        bindings.append(inFlight)
        bindings.append(sessionsJSON)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> FleetGlance {
        var columns = RowReader(row)
        return FleetGlance(
            readyExecutions: Int(try columns.next(Int64.self)), failingServers: Int(try columns.next(Int64.self)),
            openCircuits: Int(try columns.next(Int64.self)))
    }
}

/// What the heartbeat learns of the whole fleet, for systemd's status line.
struct FleetGlance: Sendable, Equatable {
    var readyExecutions: Int
    var failingServers: Int
    var openCircuits: Int
}

/// Removes this instance's row (a clean stop).
struct InstanceGoneStatement: PostgresPreparedStatement {
    static let sql = "DELETE FROM mcp_daemon_instances WHERE instance_id = $1"
    typealias Row = ()

    var instanceID: String

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(instanceID)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws {}
}
