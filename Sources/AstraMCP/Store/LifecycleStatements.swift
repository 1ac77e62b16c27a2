import Foundation
import PostgresNIO

// The SQL of the server lifecycle: scheduled checks and syncs, health and circuit state.
// Schema: migrations/0004_server_lifecycle.sql.

/// A claim of servers due for periodic work: at most `limit`, the next run `intervalSeconds`
/// away (spread by ±10 %). Returns the claimed servers.
protocol DueServersClaim: PostgresPreparedStatement where Row == ServerDescriptor {
    var limit: Int { get }
    var intervalSeconds: Double { get }
}

extension DueServersClaim {
    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(limit)
        bindings.append(intervalSeconds)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> ServerDescriptor {
        try ServerDescriptor(row)
    }
}

/// Claims up to `limit` servers due for a health check and schedules their next one: the
/// next time is spread by ±10 % so checks do not bunch up. With several daemons, a server is
/// claimed by one of them only.
struct ClaimDueHealthChecksStatement: DueServersClaim {
    static let sql = """
        UPDATE mcp_servers s
        SET next_health_check_at = now() + make_interval(secs => $2 * (0.9 + random() * 0.2))
        WHERE s.id IN (
            SELECT id FROM mcp_servers
            WHERE is_active IS NOT FALSE AND next_health_check_at <= now()
            ORDER BY next_health_check_at
            LIMIT $1
            FOR UPDATE SKIP LOCKED)
        RETURNING s.id, s.name, s.server_type, true, s.config::text, s.revision
        """
    typealias Row = ServerDescriptor

    var limit: Int
    var intervalSeconds: Double
}

/// Claims up to `limit` servers whose tool sync is due (by schedule or because the backend set
/// `sync_requested_at`) and schedules their next one.
struct ClaimDueSyncsStatement: DueServersClaim {
    static let sql = """
        UPDATE mcp_servers s
        SET next_sync_at = now() + make_interval(secs => $2 * (0.9 + random() * 0.2)), sync_requested_at = NULL
        WHERE s.id IN (
            SELECT id FROM mcp_servers
            WHERE is_active IS NOT FALSE AND (next_sync_at <= now() OR sync_requested_at IS NOT NULL)
            ORDER BY next_sync_at
            LIMIT $1
            FOR UPDATE SKIP LOCKED)
        RETURNING s.id, s.name, s.server_type, true, s.config::text, s.revision
        """
    typealias Row = ServerDescriptor

    var limit: Int
    var intervalSeconds: Double
}

/// Seconds until the next server is due for `job` (negative when overdue), or nil when there
/// are no active servers.
struct SecondsUntilDueStatement: PostgresPreparedStatement {
    static let sql = """
        SELECT extract(epoch FROM (least(min(next_health_check_at), $1::timestamptz) - now()))::float8,
               extract(epoch FROM (least(min(CASE WHEN sync_requested_at IS NOT NULL THEN now() ELSE next_sync_at END), $1::timestamptz) - now()))::float8
        FROM mcp_servers WHERE is_active IS NOT FALSE
        """
    typealias Row = (Double?, Double?)

    var horizon: Date

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(horizon)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> (Double?, Double?) {
        try row.decode((Double?, Double?).self)
    }
}

/// Records a health check: status, error, how long it has been failing, and whether that
/// makes the server unhealthy (and, if configured, deactivated). Returns the health before
/// and after, and whether it was deactivated now.
struct RecordHealthStatement: PostgresPreparedStatement {
    static let sql = """
        WITH before AS (SELECT id, is_healthy FROM mcp_servers WHERE id = $1 FOR UPDATE)
        UPDATE mcp_servers s
        SET last_health_check_at = now(),
            connection_status = CASE WHEN $2 THEN 'connected' ELSE 'error' END,
            last_connected_at = CASE WHEN $2 THEN now() ELSE s.last_connected_at END,
            last_error = CASE WHEN $2 THEN NULL ELSE $3 END,
            failing_since = CASE WHEN $2 THEN NULL ELSE coalesce(s.failing_since, now()) END,
            is_healthy = $2 OR coalesce(s.failing_since, now()) > now() - make_interval(secs => $4),
            is_active = CASE WHEN NOT $2 AND $5 AND coalesce(s.failing_since, now()) <= now() - make_interval(secs => $4)
                             THEN false ELSE s.is_active END,
            deactivated_reason = CASE WHEN NOT $2 AND $5 AND coalesce(s.failing_since, now()) <= now() - make_interval(secs => $4)
                                      THEN 'unhealthy since ' || coalesce(s.failing_since, now()) || ': ' || $3 ELSE s.deactivated_reason END
        FROM before b
        WHERE s.id = b.id
        RETURNING b.is_healthy, s.is_healthy, s.is_active IS FALSE AND $5 AND NOT $2
        """
    typealias Row = (Bool, Bool, Bool)

    var serverID: UUID
    var healthy: Bool
    var error: String?
    var unhealthyAfterSeconds: Double
    var deactivateUnhealthy: Bool

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 5)
        bindings.append(serverID)
        bindings.append(healthy)
        bindings.append(error?.sanitizedForDatabase)
        bindings.append(unhealthyAfterSeconds)
        bindings.append(deactivateUnhealthy)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> (Bool, Bool, Bool) {
        try row.decode((Bool, Bool, Bool).self)
    }
}

/// Records a circuit breaker's state change on the server's row, with when an open circuit's
/// cool-down ends: the other daemons adopt it (see `astra_mcpd_circuits`).
struct RecordCircuitStatement: PostgresPreparedStatement {
    static let sql = """
        UPDATE mcp_servers SET circuit_state = $2, circuit_changed_at = now(), circuit_reason = $3,
            circuit_open_until = now() + make_interval(secs => $4::float8)
        WHERE id = $1
        """
    typealias Row = ()

    var serverID: UUID
    var state: String
    var reason: String?
    /// For `open`: how long until trial calls.
    var openFor: Duration?

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 4)
        bindings.append(serverID)
        bindings.append(state)
        bindings.append(reason?.sanitizedForDatabase)
        bindings.append(openFor.map { Backoff.milliseconds($0) / 1000 })
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws {}
}

/// The recorded circuit of one server, or of every server whose circuit is not closed.
struct CircuitStatesStatement: PostgresPreparedStatement {
    static let sql = """
        SELECT id, circuit_state,
               CASE WHEN isfinite(circuit_open_until) THEN greatest(extract(epoch FROM circuit_open_until - now()), 0)::float8
                    WHEN circuit_open_until > now() THEN 1e9 ELSE 0 END,
               circuit_reason
        FROM mcp_servers
        WHERE CASE WHEN $1::uuid IS NULL THEN circuit_state <> 'closed' ELSE id = $1 END
        """
    typealias Row = RecordedCircuit

    /// Nil for every server whose circuit is not closed.
    var serverID: UUID?

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(serverID)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> RecordedCircuit {
        let (id, state, remaining, reason) = try row.decode((UUID, String, Double?, String?).self)
        // Clamped: an operator may write 'infinity', and a Duration cannot hold it.
        return RecordedCircuit(serverID: id, state: state, openFor: remaining.map { .milliseconds(Int64(min($0, 1e9) * 1000)) }, reason: reason)
    }
}

/// A server's circuit as some daemon recorded it.
struct RecordedCircuit: Sendable {
    var serverID: UUID
    /// `closed`, `open` or `half_open`.
    var state: String
    /// For `open`: how long until trial calls, from now.
    var openFor: Duration?
    var reason: String?
}

/// One server by id, whatever its state (the watcher's view after a change notification).
struct ServerByIDStatement: PostgresPreparedStatement {
    static let sql = "SELECT id, name, server_type, coalesce(is_active, true), config::text, revision FROM mcp_servers WHERE id = $1"
    typealias Row = ServerDescriptor

    var id: UUID

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(id)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> ServerDescriptor {
        try ServerDescriptor(row)
    }
}

extension ServerDescriptor {
    /// Decodes `id, name, server_type, is_active, config::text, revision`.
    init(_ row: PostgresRow) throws {
        let (id, name, type, active, config, revision) = try row.decode((UUID, String, String, Bool, String, Int64).self)
        self.init(id: id, name: name, serverType: type, isActive: active, configJSON: config, revision: revision)
    }
}

/// Makes every active server's tool sync due now (`sync_on_start`).
struct ScheduleAllSyncsNowStatement: PostgresPreparedStatement {
    static let sql = "UPDATE mcp_servers SET next_sync_at = now() WHERE is_active IS NOT FALSE"
    typealias Row = ()

    func makeBindings() throws -> PostgresBindings { PostgresBindings() }

    func decodeRow(_ row: PostgresRow) throws {}
}

/// After a reload shortened an interval: no server waits longer than the new interval for its
/// next check or sync (the old schedule may be an hour out).
struct BringSchedulesWithinStatement: PostgresPreparedStatement {
    static let sql = """
        UPDATE mcp_servers
        SET next_health_check_at = least(next_health_check_at, now() + make_interval(secs => $1)),
            next_sync_at = least(next_sync_at, now() + make_interval(secs => $2))
        WHERE is_active IS NOT FALSE
          AND (next_health_check_at > now() + make_interval(secs => $1) OR next_sync_at > now() + make_interval(secs => $2))
        """
    typealias Row = ()

    var healthSeconds: Double
    var syncSeconds: Double

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(healthSeconds)
        bindings.append(syncSeconds)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws {}
}
