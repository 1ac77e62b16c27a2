import Foundation
import PostgresNIO

// The callback outbox's SQL. The schema is in migrations/0009_callbacks.sql: the outcome's own
// transaction queues each delivery (a trigger), and these statements deliver them.

/// Claims up to `limit` due deliveries for `owner` (SKIP LOCKED, so daemons share the outbox):
/// leases them for `leaseSeconds`, counts the attempt, fixes the deadline at the first one, and
/// returns what a delivery needs, with the team's sealed signing secret.
struct ClaimDeliveriesStatement: PostgresPreparedStatement {
    static let sql = """
        WITH due AS (
            SELECT id FROM mcp_callback_deliveries
            WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now()
              AND (lease_owner IS NULL OR lease_expires_at < now())
            ORDER BY next_attempt_at
            LIMIT $2
            FOR UPDATE SKIP LOCKED
        ), claimed AS (
            UPDATE mcp_callback_deliveries d
            SET lease_owner = $1, lease_expires_at = now() + make_interval(secs => $3), attempts = d.attempts + 1,
                deadline_at = coalesce(d.deadline_at, d.created_at + make_interval(secs => $4))
            FROM due WHERE d.id = due.id
            RETURNING d.id, d.team_id, d.url, d.payload, d.attempts
        )
        SELECT c.id, c.team_id, c.url, c.payload, c.attempts, t.encrypted_secret
        FROM claimed c LEFT JOIN mcp_team_callbacks t ON t.team_id = c.team_id
        """
    typealias Row = ClaimedDelivery

    var owner: String
    var limit: Int
    var leaseSeconds: Double
    var deadlineSeconds: Double

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 4)
        bindings.append(owner)
        bindings.append(limit)
        bindings.append(leaseSeconds)
        bindings.append(deadlineSeconds)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> ClaimedDelivery {
        let (id, team, url, payload, attempt, sealed) = try row.decode((UUID, UUID, String, String, Int32, String?).self)
        return ClaimedDelivery(id: id, teamID: team, url: url, payload: payload, attempt: Int(attempt), sealedSecret: sealed)
    }
}

/// Records delivery attempts in one statement: each attempt's row, and the delivery delivered
/// (a 2xx), scheduled again after its delay, or failed for good once its deadline would pass.
/// Only deliveries this owner still leases are written.
struct RecordDeliveriesStatement: PostgresPreparedStatement {
    static let sql = """
        WITH result AS (
            SELECT * FROM unnest($2::uuid[], $3::int4[], $4::int4[], $5::int4[], $6::text[], $7::float8[])
                AS r(id, attempt, status_code, latency_ms, error, retry_seconds)
        ), updated AS (
            UPDATE mcp_callback_deliveries d
            SET lease_owner = NULL, lease_expires_at = NULL,
                last_status_code = NULLIF(r.status_code, 0), last_error = NULLIF(r.error, ''),
                delivered_at = CASE WHEN r.status_code BETWEEN 200 AND 299 THEN now() END,
                failed_at = CASE WHEN r.status_code NOT BETWEEN 200 AND 299
                                  AND now() + make_interval(secs => r.retry_seconds) > d.deadline_at THEN now() END,
                next_attempt_at = now() + make_interval(secs => r.retry_seconds)
            FROM result r
            WHERE d.id = r.id AND d.lease_owner = $1 AND d.attempts = r.attempt
            RETURNING d.id
        )
        INSERT INTO mcp_callback_attempts (delivery_id, attempt, status_code, latency_ms, error)
        SELECT r.id, r.attempt, NULLIF(r.status_code, 0), r.latency_ms, NULLIF(r.error, '')
        FROM result r JOIN updated u ON u.id = r.id
        ON CONFLICT (delivery_id, attempt) DO NOTHING
        """
    typealias Row = ()

    var owner: String
    var results: [DeliveryResult]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 7)
        bindings.append(owner)
        bindings.append(results.map(\.id))
        bindings.append(results.map { Int32(clamping: $0.attempt) })
        // 0 and "" stand for none (nil elements do not bind).
        bindings.append(results.map { Int32(clamping: $0.statusCode ?? 0) })
        bindings.append(results.map { Int32(clamping: $0.latencyMilliseconds) })
        bindings.append(results.map { $0.error?.sanitizedForDatabase ?? "" })
        bindings.append(results.map { Backoff.milliseconds($0.retryAfter) / 1000 })
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws {}
}

/// When the next delivery falls due (nil: none waits), so the deliverer can sleep until then.
struct NextDeliveryDueStatement: PostgresPreparedStatement {
    static let sql = """
        SELECT extract(epoch FROM min(greatest(next_attempt_at, coalesce(lease_expires_at, next_attempt_at))) - now())::float8
        FROM mcp_callback_deliveries WHERE delivered_at IS NULL AND failed_at IS NULL
        """
    typealias Row = Double?

    func makeBindings() throws -> PostgresBindings { PostgresBindings() }

    func decodeRow(_ row: PostgresRow) throws -> Double? {
        try row.decode(Double?.self)
    }
}

/// One delivery claimed for an attempt.
struct ClaimedDelivery: Sendable {
    /// The message's `webhook-id`, the same for every attempt.
    var id: UUID
    var teamID: UUID
    var url: String
    /// The exact body to send and sign.
    var payload: String
    /// This attempt's number (1 for the first).
    var attempt: Int
    /// The team's signing secret, sealed; nil when the team has none.
    var sealedSecret: String?
}

/// How one delivery attempt went.
struct DeliveryResult: Sendable {
    var id: UUID
    var attempt: Int
    /// The receiver's HTTP status; nil when none came (refused, timed out, not sent).
    var statusCode: Int?
    var latencyMilliseconds: Int
    var error: String?
    /// When to try again if it was not a 2xx.
    var retryAfter: Duration

    var delivered: Bool { statusCode.map { (200..<300).contains($0) } ?? false }
}
