import Foundation
import PostgresNIO

// The queue's SQL: every statement the hot path runs, prepared once per connection.
// The schema they rely on is in migrations/0002_execution_queue.sql.

/// Claims up to `limit` claimable executions for `owner` in one round trip: leases them in the
/// queue, marks them `running`, and returns what is needed to run them.
struct ClaimExecutionsStatement: PostgresPreparedStatement {
    static let sql = """
        WITH claimed AS (
            UPDATE mcp_execution_queue q
            SET lease_owner = $1, lease_expires_at = now() + make_interval(secs => $3), attempt = q.attempt + 1
            WHERE q.execution_id IN (
                SELECT execution_id FROM mcp_execution_queue
                WHERE lease_owner IS NULL AND available_at <= now() AND server_id <> ALL($4::uuid[])
                ORDER BY priority DESC, available_at
                LIMIT $2
                FOR UPDATE SKIP LOCKED)
            RETURNING q.execution_id, q.attempt, q.enqueued_at
        ), started AS (
            UPDATE mcp_tool_executions e
            SET status = 'running', started_at = now(), attempts = c.attempt
            FROM claimed c
            WHERE e.id = c.execution_id
            RETURNING e.id, e.tool_id, e.server_id, e.input_parameters
        )
        SELECT s.id, s.server_id, s.input_parameters::text, t.tool_name,
               coalesce(t.is_enabled, true) AND t.removed_at IS NULL, t.removed_at IS NOT NULL,
               coalesce(t.timeout_seconds, 30), srv.name, srv.server_type, coalesce(srv.is_active, true), srv.config::text,
               c.attempt, t.max_attempts,
               coalesce(t.is_idempotent, t.annotations->'idempotentHint' = 'true' OR t.annotations->'readOnlyHint' = 'true', false),
               c.enqueued_at
        FROM started s
        JOIN claimed c ON c.execution_id = s.id
        JOIN mcp_tools t ON t.id = s.tool_id
        JOIN mcp_servers srv ON srv.id = s.server_id
        """
    typealias Row = ClaimedExecution

    var owner: String
    var limit: Int
    var leaseSeconds: Double
    /// Servers already at their in-flight cap: their executions wait.
    var saturatedServers: [UUID]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 4)
        bindings.append(owner)
        bindings.append(limit)
        bindings.append(leaseSeconds)
        bindings.append(saturatedServers)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> ClaimedExecution {
        let (id, serverID, arguments, toolName, toolEnabled, toolRemoved, timeout, serverName, serverType, serverActive, config,
             attempt, maxAttempts, idempotent, enqueuedAt) =
            try row.decode((UUID, UUID, String, String, Bool, Bool, Int32, String, String, Bool, String, Int32, Int32?, Bool, Date).self)
        return ClaimedExecution(
            id: id,
            argumentsJSON: arguments,
            toolName: toolName,
            toolEnabled: toolEnabled,
            toolRemoved: toolRemoved,
            timeoutSeconds: Int(timeout),
            server: ServerDescriptor(id: serverID, name: serverName, serverType: serverType, isActive: serverActive, configJSON: config),
            attempt: Int(attempt),
            maxAttempts: maxAttempts.map(Int.init),
            idempotent: idempotent,
            enqueuedAt: enqueuedAt
        )
    }
}

/// Writes a batch of outcomes with the tools' statistics, removes the executions from the
/// queue and sends one `astra_mcpd_finished` notification listing their ids — one statement,
/// so all of it happens atomically. Only executions still leased by `owner` for the same
/// attempt are written (the fence against a worker whose lease was taken over); the row
/// returned counts those written.
struct CompleteExecutionsStatement: PostgresPreparedStatement {
    static let sql = """
        WITH outcome AS (
            SELECT * FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::int8[], $8::int4[])
                AS o(id, status, output, error_message, completed_at, duration_ms, attempt)
        ), finished AS (
            UPDATE mcp_tool_executions e
            SET status = o.status, output_result = NULLIF(o.output, '')::jsonb,
                error_message = CASE
                    WHEN o.status <> 'success' AND EXISTS (SELECT 1 FROM mcp_execution_attempts a WHERE a.execution_id = o.id)
                    THEN (SELECT string_agg('attempt ' || a.attempt || ': ' || a.error_message, '; ' ORDER BY a.attempt)
                          FROM mcp_execution_attempts a WHERE a.execution_id = o.id)
                         || '; attempt ' || q.attempt || ': ' || coalesce(NULLIF(o.error_message, ''), o.status)
                    ELSE NULLIF(o.error_message, '') END,
                completed_at = o.completed_at,
                duration_ms = o.duration_ms::int
            FROM outcome o
            JOIN mcp_execution_queue q ON q.execution_id = o.id AND q.lease_owner = $1 AND q.attempt = o.attempt
            WHERE e.id = o.id
            RETURNING e.id, e.tool_id, e.status, e.duration_ms
        ), stats AS (
            UPDATE mcp_tools t
            SET execution_count = coalesce(t.execution_count, 0) + f.n,
                success_count = coalesce(t.success_count, 0) + f.successes,
                error_count = coalesce(t.error_count, 0) + f.n - f.successes,
                avg_duration_ms = ((coalesce(t.avg_duration_ms, 0)::bigint * coalesce(t.execution_count, 0) + f.total_ms)
                                   / (coalesce(t.execution_count, 0) + f.n))::int,
                last_executed_at = now()
            FROM (SELECT tool_id, count(*) AS n, count(*) FILTER (WHERE status = 'success') AS successes,
                         sum(duration_ms)::bigint AS total_ms
                  FROM finished GROUP BY tool_id) f
            WHERE t.id = f.tool_id
        ), dequeued AS (
            DELETE FROM mcp_execution_queue q USING finished f WHERE q.execution_id = f.id
        )
        SELECT (SELECT count(*) FROM finished)::int,
               (SELECT pg_notify('astra_mcpd_finished', string_agg(id::text, ',')) FROM finished HAVING count(*) > 0) IS NULL
        """
    typealias Row = Int32

    var owner: String
    var outcomes: [ExecutionOutcome]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 8)
        bindings.append(owner)
        bindings.append(outcomes.map(\.id))
        bindings.append(outcomes.map(\.status.rawValue))
        bindings.append(outcomes.map { $0.outputJSON ?? "" })
        bindings.append(outcomes.map { $0.errorMessage?.sanitizedForDatabase ?? "" })
        bindings.append(outcomes.map(\.completedAt))
        // duration_ms is the seed's integer column: a call longer than 24 days is clamped.
        bindings.append(outcomes.map { min($0.durationMilliseconds, Int(Int32.max)) })
        bindings.append(outcomes.map { Int32(clamping: $0.attempt) })
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Int32 {
        let (count, _) = try row.decode((Int32, Bool?).self)
        return count
    }
}

/// The end of every statement that hands executions back: the `released` queue rows' executions
/// become `pending` again and the workers are told there is work.
private let handBackReleased = """
    , reset AS (
        UPDATE mcp_tool_executions e SET status = 'pending'
        FROM released r WHERE e.id = r.execution_id
        RETURNING e.id
    )
    SELECT count(*)::int, (SELECT pg_notify('astra_mcpd_pending', '') FROM reset HAVING count(*) > 0) IS NULL FROM reset
    """

/// Hands executions back to the queue (graceful shutdown): another worker may claim them. A
/// hand-back of a call that never reached the server gives its attempt back.
struct ReleaseExecutionsStatement: PostgresPreparedStatement {
    static let sql = """
        WITH handback AS (
            SELECT * FROM unnest($2::uuid[], $3::int4[], $4::bool[]) AS h(id, attempt, counts)
        ), released AS (
            UPDATE mcp_execution_queue q
            SET lease_owner = NULL, lease_expires_at = NULL, attempt = q.attempt - CASE WHEN h.counts THEN 0 ELSE 1 END
            FROM handback h
            WHERE q.execution_id = h.id AND q.lease_owner = $1 AND q.attempt = h.attempt
            RETURNING q.execution_id
        )
        """ + handBackReleased
    typealias Row = Int32

    var owner: String
    var releases: [ReleaseRequest]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 4)
        bindings.append(owner)
        bindings.append(releases.map(\.id))
        bindings.append(releases.map { Int32(clamping: $0.attempt) })
        bindings.append(releases.map(\.countsAsAttempt))
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Int32 {
        try row.decode((Int32, Bool?).self).0
    }
}

/// The heartbeat: extends the leases of the executions `owner` is running. Only those: a lease
/// of this owner that the worker does not know of (a claim whose answer was lost with the
/// connection) must expire, so that recovery takes it over.
struct RenewLeasesStatement: PostgresPreparedStatement {
    static let sql = """
        UPDATE mcp_execution_queue SET lease_expires_at = now() + make_interval(secs => $2)
        WHERE lease_owner = $1 AND execution_id = ANY($3::uuid[])
        """
    typealias Row = ()

    var owner: String
    var leaseSeconds: Double
    var executions: [UUID]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 3)
        bindings.append(owner)
        bindings.append(leaseSeconds)
        bindings.append(executions)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws {}
}

/// Crash recovery, at most once for what is not idempotent: an execution whose worker stopped
/// renewing its lease (killed, lost the database for longer than the lease) may have reached
/// its tool. A non-idempotent one therefore ends `error` and is never sent again; an
/// idempotent one goes back to `pending`, and its lost attempt counts against `max_attempts`
/// (so an execution that kills its worker cannot loop for ever). This includes the worker's own
/// expired leases: its heartbeat renews every execution it runs, so one of its own that expired
/// is one it does not know of (a claim whose answer was lost), or one it lost the database for
/// longer than a lease (its outcome write is then fenced off).
///
/// Returns the executions handed back and those ended.
struct RecoverExpiredLeasesStatement: PostgresPreparedStatement {
    static let lostMessage = "the worker was lost during the call"
    static let sql = """
        WITH expired AS (
            SELECT execution_id, attempt FROM mcp_execution_queue
            WHERE lease_owner IS NOT NULL AND lease_expires_at < now()
            FOR UPDATE SKIP LOCKED
        ), judged AS (
            SELECT x.execution_id, x.attempt, e.tool_id, e.started_at,
                   CASE WHEN NOT coalesce(t.is_idempotent,
                                          t.annotations->'idempotentHint' = 'true' OR t.annotations->'readOnlyHint' = 'true', false)
                        THEN '\(lostMessage); not retried because the tool is not idempotent'
                        WHEN x.attempt >= coalesce(t.max_attempts, $1)
                        THEN '\(lostMessage); gave up after ' || x.attempt || ' attempts'
                   END AS final_error
            FROM expired x
            JOIN mcp_tool_executions e ON e.id = x.execution_id
            JOIN mcp_tools t ON t.id = e.tool_id
        ), released AS (
            UPDATE mcp_execution_queue q SET lease_owner = NULL, lease_expires_at = NULL, last_error = '\(lostMessage)'
            FROM judged j WHERE q.execution_id = j.execution_id AND j.final_error IS NULL
            RETURNING q.execution_id, q.attempt
        ), history AS (
            INSERT INTO mcp_execution_attempts (execution_id, attempt, error_message)
            SELECT execution_id, attempt, '\(lostMessage)' FROM released
            ON CONFLICT (execution_id, attempt) DO UPDATE SET error_message = EXCLUDED.error_message, ended_at = now()
        ), reset AS (
            UPDATE mcp_tool_executions e SET status = 'pending'
            FROM released r WHERE e.id = r.execution_id
            RETURNING e.id
        ), ended AS (
            UPDATE mcp_tool_executions e
            SET status = 'error', output_result = NULL, completed_at = now(),
                duration_ms = least(extract(epoch FROM now() - j.started_at) * 1000, 2147483647)::int,
                error_message = coalesce((SELECT string_agg('attempt ' || a.attempt || ': ' || a.error_message, '; ' ORDER BY a.attempt)
                                          FROM mcp_execution_attempts a WHERE a.execution_id = j.execution_id) || '; attempt '
                                         || j.attempt || ': ', '') || j.final_error
            FROM judged j WHERE e.id = j.execution_id AND j.final_error IS NOT NULL
            RETURNING e.id, e.tool_id, e.duration_ms
        ), stats AS (
            UPDATE mcp_tools t
            SET execution_count = coalesce(t.execution_count, 0) + f.n, error_count = coalesce(t.error_count, 0) + f.n,
                avg_duration_ms = ((coalesce(t.avg_duration_ms, 0)::bigint * coalesce(t.execution_count, 0) + f.total_ms)
                                   / (coalesce(t.execution_count, 0) + f.n))::int,
                last_executed_at = now()
            FROM (SELECT tool_id, count(*) AS n, sum(duration_ms)::bigint AS total_ms FROM ended GROUP BY tool_id) f
            WHERE t.id = f.tool_id
        ), dequeued AS (
            DELETE FROM mcp_execution_queue q USING ended f WHERE q.execution_id = f.id
        )
        SELECT (SELECT count(*) FROM reset)::int, (SELECT count(*) FROM ended)::int,
               (SELECT pg_notify('astra_mcpd_pending', '') FROM reset HAVING count(*) > 0) IS NULL,
               (SELECT pg_notify('astra_mcpd_finished', string_agg(id::text, ',')) FROM ended HAVING count(*) > 0) IS NULL
        """
    typealias Row = (handedBack: Int, ended: Int)

    /// The daemon's `retry_max_attempts`, for tools without their own `max_attempts`.
    var defaultMaxAttempts: Int

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(Int32(clamping: defaultMaxAttempts))
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> (handedBack: Int, ended: Int) {
        let (handedBack, ended, _, _) = try row.decode((Int32, Int32, Bool?, Bool?).self)
        return (Int(handedBack), Int(ended))
    }
}

/// Schedules executions to run again: their queue rows are unleased and become claimable after
/// the delay, each attempt's cause is kept in `mcp_execution_attempts`, and the executions are
/// `pending` again. A wait that is not an attempt (an open circuit) does not use one up.
struct RetryExecutionsStatement: PostgresPreparedStatement {
    static let sql = """
        WITH retry AS (
            SELECT * FROM unnest($2::uuid[], $3::float8[], $4::text[], $5::bool[], $6::int4[]) AS r(id, delay_seconds, error, counts, attempt)
        ), requeued AS (
            UPDATE mcp_execution_queue q
            SET lease_owner = NULL, lease_expires_at = NULL, last_error = r.error,
                available_at = now() + make_interval(secs => r.delay_seconds),
                attempt = q.attempt - CASE WHEN r.counts THEN 0 ELSE 1 END
            FROM retry r
            WHERE q.execution_id = r.id AND q.lease_owner = $1 AND q.attempt = r.attempt
            RETURNING q.execution_id, q.attempt, r.error, r.counts
        ), history AS (
            INSERT INTO mcp_execution_attempts (execution_id, attempt, error_message)
            SELECT execution_id, attempt, error FROM requeued WHERE counts
            ON CONFLICT (execution_id, attempt) DO UPDATE SET error_message = EXCLUDED.error_message, ended_at = now()
        )
        UPDATE mcp_tool_executions e SET status = 'pending'
        FROM requeued r WHERE e.id = r.execution_id
        """
    typealias Row = ()

    var owner: String
    var retries: [RetryRequest]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 6)
        bindings.append(owner)
        bindings.append(retries.map(\.id))
        bindings.append(retries.map { Backoff.milliseconds($0.after) / 1000 })
        bindings.append(retries.map(\.error.sanitizedForDatabase))
        bindings.append(retries.map(\.countsAsAttempt))
        bindings.append(retries.map { Int32(clamping: $0.attempt) })
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws {}
}
