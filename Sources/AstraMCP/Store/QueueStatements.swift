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
            SET lease_owner = $1, lease_token = gen_random_uuid(), lease_expires_at = now() + make_interval(secs => $3),
                attempt = q.attempt + 1
            WHERE q.execution_id IN (
                SELECT execution_id FROM mcp_execution_queue
                WHERE lease_owner IS NULL AND available_at <= now() AND server_id <> ALL($4::uuid[])
                ORDER BY priority DESC, available_at
                LIMIT $2
                FOR UPDATE SKIP LOCKED)
            RETURNING q.execution_id, q.attempt, q.enqueued_at, q.lease_token
        ), started AS (
            UPDATE mcp_tool_executions e
            SET status = 'running', started_at = now(), attempts = c.attempt
            FROM claimed c
            WHERE e.id = c.execution_id
            RETURNING e.id, e.tool_id, e.server_id, e.input_parameters, e.cancel_requested_at IS NOT NULL AS cancel_requested, e.task_id, e.team_id
        )
        SELECT s.id, s.server_id, s.input_parameters::text, t.tool_name,
               coalesce(t.is_enabled, true) AND t.removed_at IS NULL, t.removed_at IS NOT NULL,
               coalesce(t.timeout_seconds, 30), srv.name, srv.server_type, coalesce(srv.is_active, true), srv.config::text, srv.revision,
               c.attempt, t.max_attempts,
               coalesce(t.is_idempotent, t.annotations->'idempotentHint' = 'true' OR t.annotations->'readOnlyHint' = 'true', false),
               c.enqueued_at, c.lease_token, t.max_duration_seconds, s.cancel_requested, s.task_id, t.execution->>'taskSupport',
               s.tool_id, t.schema_revision, s.team_id
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
        var columns = RowReader(row)
        let id = try columns.next(UUID.self)
        let serverID = try columns.next(UUID.self)
        let arguments = try columns.next(String.self)
        let toolName = try columns.next(String.self)
        let toolEnabled = try columns.next(Bool.self)
        let toolRemoved = try columns.next(Bool.self)
        let timeout = try columns.next(Int32.self)
        let serverName = try columns.next(String.self)
        let serverType = try columns.next(String.self)
        let serverActive = try columns.next(Bool.self)
        let config = try columns.next(String.self)
        let revision = try columns.next(Int64.self)
        let attempt = try columns.next(Int32.self)
        let maxAttempts = try columns.next(Int32?.self)
        let idempotent = try columns.next(Bool.self)
        let enqueuedAt = try columns.next(Date.self)
        let leaseToken = try columns.next(UUID.self)
        let maxDuration = try columns.next(Int32?.self)
        let cancelRequested = try columns.next(Bool.self)
        let taskID = try columns.next(String?.self)
        let taskSupport = try columns.next(String?.self)
        let toolID = try columns.next(UUID.self)
        let schemaRevision = try columns.next(Int64.self)
        let teamID = try columns.next(UUID?.self)
        return ClaimedExecution(
            id: id,
            argumentsJSON: arguments,
            toolName: toolName,
            toolEnabled: toolEnabled,
            toolRemoved: toolRemoved,
            timeoutSeconds: Int(timeout),
            maxDurationSeconds: maxDuration.map(Int.init),
            cancelRequested: cancelRequested,
            taskID: taskID,
            taskSupport: TaskSupport(taskSupport),
            server: ServerDescriptor(id: serverID, name: serverName, serverType: serverType, isActive: serverActive, configJSON: config, revision: revision),
            attempt: Int(attempt),
            leaseToken: leaseToken,
            maxAttempts: maxAttempts.map(Int.init),
            idempotent: idempotent,
            enqueuedAt: enqueuedAt,
            toolID: toolID,
            schemaRevision: schemaRevision,
            teamID: teamID
        )
    }
}

/// Writes a batch of outcomes with the tools' statistics, removes the executions from the
/// queue and sends one `astra_mcpd_finished` notification listing their ids — one statement,
/// so all of it happens atomically. Only executions whose queue row still holds the claim's
/// lease token are written (the fence against a worker whose lease was taken over); the queue
/// rows are locked first, in the order recovery locks them, so a concurrent takeover either
/// wins entirely or not at all. The row returned counts those written.
struct CompleteExecutionsStatement: PostgresPreparedStatement {
    static let sql = """
        WITH outcome AS (
            SELECT * FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::int8[], $8::uuid[])
                AS o(id, status, output, error_message, completed_at, duration_ms, lease)
        ), fenced AS (
            SELECT q.execution_id, q.attempt FROM mcp_execution_queue q JOIN outcome o ON o.id = q.execution_id
            WHERE q.lease_owner = $1 AND q.lease_token = o.lease
            FOR UPDATE OF q
        ), finished AS (
            UPDATE mcp_tool_executions e
            SET status = o.status, output_result = NULLIF(o.output, '')::jsonb,
                error_message = CASE
                    WHEN o.status <> 'success' AND EXISTS (SELECT 1 FROM mcp_execution_attempts a WHERE a.execution_id = o.id)
                    THEN (SELECT string_agg('attempt ' || a.attempt || ': ' || a.error_message, '; ' ORDER BY a.attempt)
                          FROM mcp_execution_attempts a WHERE a.execution_id = o.id)
                         || '; attempt ' || f.attempt || ': ' || coalesce(NULLIF(o.error_message, ''), o.status)
                    ELSE NULLIF(o.error_message, '') END,
                completed_at = o.completed_at,
                duration_ms = o.duration_ms::int
            FROM outcome o
            JOIN fenced f ON f.execution_id = o.id
            WHERE e.id = o.id AND e.status = 'running'
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
                  FROM finished WHERE status <> 'cancelled' GROUP BY tool_id) f
            WHERE t.id = f.tool_id
        ), dequeued AS (
            DELETE FROM mcp_execution_queue q USING finished f WHERE q.execution_id = f.id AND q.lease_owner = $1
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
        bindings.append(outcomes.map { $0.outputJSON.map(Self.storableJSON) ?? "" })
        bindings.append(outcomes.map { $0.errorMessage?.sanitizedForDatabase ?? "" })
        bindings.append(outcomes.map(\.completedAt))
        // duration_ms is the seed's integer column: a call longer than 24 days is clamped.
        bindings.append(outcomes.map { min($0.durationMilliseconds, Int(Int32.max)) })
        bindings.append(outcomes.map(\.leaseToken))
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Int32 {
        let (count, _) = try row.decode((Int32, Bool?).self)
        return count
    }

    /// A result's JSON as jsonb accepts it: the escape `\\u0000` (valid JSON, refused by
    /// PostgreSQL) becomes `\\ufffd`, so a tool's success is not lost over one character.
    /// A quick scan for `\\u0000`, whatever backslashes stand before it.
    static func mayContainNULEscape(_ json: String) -> Bool {
        var json = json
        return json.withUTF8 { bytes in
            var index = 0
            while index + 5 < bytes.count {
                if bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u"), bytes[index + 2] == 0x30,
                    bytes[index + 3] == 0x30, bytes[index + 4] == 0x30, bytes[index + 5] == 0x30
                {
                    return true
                }
                index += 1
            }
            return false
        }
    }

    static func storableJSON(_ json: String) -> String {
        guard Self.mayContainNULEscape(json) else { return json }
        var bytes = Array(json.utf8)
        var index = 0
        var backslashes = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\\") {
                backslashes += 1
            } else {
                // An escape starts at an odd backslash: `\\\\u0000` is a backslash and text.
                if byte == UInt8(ascii: "u"), backslashes % 2 == 1, index + 4 < bytes.count,
                    bytes[(index + 1)...(index + 4)].elementsEqual("0000".utf8)
                {
                    bytes.replaceSubrange((index + 1)...(index + 4), with: "fffd".utf8)
                }
                backslashes = 0
            }
            index += 1
        }
        return String(decoding: bytes, as: UTF8.self)
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
            SELECT * FROM unnest($2::uuid[], $3::uuid[], $4::bool[]) AS h(id, lease, counts)
        ), released AS (
            UPDATE mcp_execution_queue q
            SET lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL,
                attempt = q.attempt - CASE WHEN h.counts THEN 0 ELSE 1 END
            FROM handback h
            WHERE q.execution_id = h.id AND q.lease_owner = $1 AND q.lease_token = h.lease
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
        bindings.append(releases.map(\.leaseToken))
        bindings.append(releases.map(\.countsAsAttempt))
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Int32 {
        try row.decode((Int32, Bool?).self).0
    }
}

/// The heartbeat: extends the leases of the executions `owner` is running. Only those: a lease
/// of this owner that the worker does not hold (a claim whose answer was lost with the
/// connection) must expire, so that recovery takes it over. Returns the renewed executions the
/// backend asked to cancel: the backstop for a lost `astra_mcpd_cancel` notification.
struct RenewLeasesStatement: PostgresPreparedStatement {
    static let sql = """
        WITH renewed AS (
            UPDATE mcp_execution_queue SET lease_expires_at = now() + make_interval(secs => $2)
            WHERE execution_id = ANY($3::uuid[]) AND lease_owner = $1 AND lease_token = ANY($4::uuid[])
            RETURNING execution_id
        )
        SELECT e.id FROM renewed r JOIN mcp_tool_executions e ON e.id = r.execution_id WHERE e.cancel_requested_at IS NOT NULL
        """
    typealias Row = UUID

    var owner: String
    var leaseSeconds: Double
    var leases: [HeldLease]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 4)
        bindings.append(owner)
        bindings.append(leaseSeconds)
        bindings.append(leases.map(\.execution))
        bindings.append(leases.map(\.token))
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> UUID {
        try row.decode(UUID.self)
    }
}

/// Ends, as `cancelled`, the executions among `ids` that the backend asked to cancel and that
/// no worker holds: they were never sent. Queue rows are locked first and skipped when locked
/// (a claim is taking them; the claim then sees the request), in the order claims lock them.
/// Returns how many ended.
struct CancelUnclaimedStatement: PostgresPreparedStatement {
    static let message = "cancelled before it was sent"
    /// The most executions in one statement: their ids fit in one notification (8000 bytes).
    static let batchLimit = 100
    static let sql = """
        WITH unclaimed AS (
            SELECT q.execution_id FROM mcp_execution_queue q
            WHERE q.execution_id = ANY($1::uuid[]) AND q.lease_owner IS NULL
            FOR UPDATE OF q SKIP LOCKED
        ), ended AS (
            UPDATE mcp_tool_executions e
            SET status = 'cancelled', output_result = NULL, error_message = '\(message)', completed_at = now(), duration_ms = 0
            FROM unclaimed u
            WHERE e.id = u.execution_id AND e.cancel_requested_at IS NOT NULL AND e.status = 'pending'
              AND e.task_id IS NULL  -- a stored task was sent: its claim cancels it with tasks/cancel
            RETURNING e.id
        ), dequeued AS (
            DELETE FROM mcp_execution_queue q USING ended f WHERE q.execution_id = f.id
        )
        SELECT (SELECT count(*) FROM ended)::int,
               (SELECT pg_notify('astra_mcpd_finished', string_agg(id::text, ',')) FROM ended HAVING count(*) > 0) IS NULL
        """
    typealias Row = Int32

    var ids: [UUID]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(ids)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Int32 {
        try row.decode((Int32, Bool?).self).0
    }
}

/// Writes the latest progress of running executions, and announces them on
/// `astra_mcpd_progress` (their ids, comma-separated) in the same statement. Only running
/// executions held by `owner` are written: progress never overwrites a finished row.
struct RecordProgressStatement: PostgresPreparedStatement {
    /// The most executions in one statement: their ids fit in one notification (8000 bytes).
    static let batchLimit = 200
    static let sql = """
        WITH reported AS (
            SELECT * FROM unnest($2::uuid[], $3::float8[], $4::float8[], $5::text[]) AS p(id, progress, total, message)
        ), unlocked AS (
            -- Progress never waits for a row lock: a row being completed is skipped (its outcome
            -- says more), and no lock order with the outcome writer can deadlock.
            SELECT e.id FROM mcp_tool_executions e JOIN reported p ON p.id = e.id
            WHERE e.status = 'running' AND EXISTS (SELECT 1 FROM mcp_execution_queue q WHERE q.execution_id = p.id AND q.lease_owner = $1)
            FOR UPDATE OF e SKIP LOCKED
        ), written AS (
            UPDATE mcp_tool_executions e
            SET progress = p.progress, progress_total = NULLIF(p.total, 'NaN'::float8), progress_message = NULLIF(p.message, ''),
                progress_updated_at = now()
            FROM reported p JOIN unlocked u ON u.id = p.id
            WHERE e.id = p.id
            RETURNING e.id
        )
        SELECT (SELECT pg_notify('astra_mcpd_progress', string_agg(id::text, ',')) FROM written HAVING count(*) > 0) IS NULL
        """
    typealias Row = Bool?

    var owner: String
    var reports: [ProgressReport]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 5)
        bindings.append(owner)
        bindings.append(reports.map(\.execution))
        bindings.append(reports.map(\.progress))
        // NaN and "" stand for none (nil elements do not bind).
        bindings.append(reports.map { $0.total ?? .nan })
        bindings.append(reports.map { $0.message?.sanitizedForDatabase ?? "" })
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Bool? {
        try row.decode(Bool?.self)
    }
}

/// The latest `notifications/progress` of one running execution.
struct ProgressReport: Sendable, Equatable {
    var execution: UUID
    var progress: Double
    var total: Double?
    var message: String?
}

/// After a claim whose answer was lost: hands back the leases this owner has but does not hold
/// (it never saw those executions, so it never started them), giving their attempt back.
struct ReleaseUnheldLeasesStatement: PostgresPreparedStatement {
    static let sql = """
        WITH released AS (
            UPDATE mcp_execution_queue
            SET lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, attempt = attempt - 1
            WHERE lease_owner = $1 AND lease_token <> ALL($2::uuid[])
            RETURNING execution_id
        )
        """ + handBackReleased
    typealias Row = Int32

    var owner: String
    var heldLeases: [UUID]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(owner)
        bindings.append(heldLeases)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Int32 {
        try row.decode((Int32, Bool?).self).0
    }
}

/// A claim this worker holds: the execution and the claim's lease token.
struct HeldLease: Sendable, Hashable {
    var execution: UUID
    var token: UUID
}

/// Crash recovery, at most once for what is not idempotent: an execution whose worker stopped
/// renewing its lease (killed, lost the database for longer than the lease) may have reached
/// its tool. A non-idempotent one therefore ends `error` and is never sent again; an
/// idempotent one goes back to `pending`, and its lost attempt counts against `max_attempts`
/// (so an execution that kills its worker cannot loop for ever). One whose task the server had
/// created (`task_id`) goes back to `pending` whatever the tool: the next attempt polls that
/// task, and the tool never runs twice (a task the server forgot ends it). This includes the worker's own
/// expired leases: its heartbeat renews every execution it runs, so one of its own that expired
/// is one it does not know of (a claim whose answer was lost), or one it lost the database for
/// longer than a lease (its outcome write is then fenced off). While a claim of its own is
/// unsettled (sent and not yet answered, or its answer lost and not yet handed back), the
/// worker spares all of its own (`sparedOwner`): they may be that claim's.
///
/// Returns the executions handed back and those ended.
struct RecoverExpiredLeasesStatement: PostgresPreparedStatement {
    static let lostMessage = "the worker was lost during the call"
    /// How many attempts a lost execution with a stored task gets at least.
    static let minimumTaskResumes = 10
    /// The most executions taken over in one statement: their ids fit in one notification
    /// (8000 bytes). A full batch means: run it again.
    static let batchLimit = 100
    static let sql = """
        WITH expired AS (
            SELECT execution_id, attempt FROM mcp_execution_queue
            WHERE lease_owner IS NOT NULL AND lease_expires_at < now() AND (lease_token IS NULL OR lease_token <> ALL($2::uuid[]))
              AND lease_owner IS DISTINCT FROM $3::text
            ORDER BY lease_expires_at
            LIMIT \(batchLimit)
            FOR UPDATE SKIP LOCKED
        ), judged AS (
            SELECT x.execution_id, x.attempt, e.tool_id, e.started_at,
                   CASE WHEN e.task_id IS NULL AND NOT coalesce(t.is_idempotent,
                                          t.annotations->'idempotentHint' = 'true' OR t.annotations->'readOnlyHint' = 'true', false)
                        THEN '\(lostMessage); not retried because the tool is not idempotent'
                        -- A stored task is resumed, not run again; it may be resumed at least
                        -- \(minimumTaskResumes) times whatever max_attempts says (an attempt that kills
                        -- its worker still cannot loop for ever).
                        WHEN x.attempt >= greatest(coalesce(t.max_attempts, $1), CASE WHEN e.task_id IS NOT NULL THEN \(minimumTaskResumes) ELSE 0 END)
                        THEN '\(lostMessage); gave up after ' || x.attempt || ' attempts'
                   END AS final_error
            FROM expired x
            JOIN mcp_tool_executions e ON e.id = x.execution_id
            JOIN mcp_tools t ON t.id = e.tool_id
        ), released AS (
            UPDATE mcp_execution_queue q SET lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, last_error = '\(lostMessage)'
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
    /// The lease tokens of the executions this worker runs: never taken over from itself (its
    /// heartbeat may simply not have caught up after an outage).
    var heldLeases: [UUID]
    /// A lease owner none of whose leases is taken over (the worker itself while a claim of its
    /// own is unsettled: it may have leases it has not seen yet); nil for none.
    var sparedOwner: String? = nil

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 3)
        bindings.append(Int32(clamping: defaultMaxAttempts))
        bindings.append(heldLeases)
        bindings.append(sparedOwner)
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
            SELECT * FROM unnest($2::uuid[], $3::float8[], $4::text[], $5::bool[], $6::uuid[]) AS r(id, delay_seconds, error, counts, lease)
        ), requeued AS (
            UPDATE mcp_execution_queue q
            SET lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, last_error = r.error,
                available_at = now() + make_interval(secs => r.delay_seconds),
                attempt = q.attempt - CASE WHEN r.counts THEN 0 ELSE 1 END
            FROM retry r
            WHERE q.execution_id = r.id AND q.lease_owner = $1 AND q.lease_token = r.lease
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
        bindings.append(retries.map(\.leaseToken))
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws {}
}

/// Stores the task the server created for an execution (or its latest status), fenced by the
/// claim's lease: from then on the execution resumes that task rather than calling again.
struct RecordTaskStatement: PostgresPreparedStatement {
    static let sql = """
        UPDATE mcp_tool_executions e SET task_id = $3, task_status = $4
        FROM mcp_execution_queue q
        WHERE e.id = $1 AND q.execution_id = e.id AND q.lease_token = $2
        """
    typealias Row = ()

    var execution: UUID
    var leaseToken: UUID
    var taskID: String
    var status: String

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 4)
        bindings.append(execution)
        bindings.append(leaseToken)
        bindings.append(taskID)
        bindings.append(status)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws {}
}

/// Ends, as `error`, the executions that waited longer than `timeoutSeconds` for a
/// confirmation (`requires_confirmation`). Their finish is announced by the row's trigger.
/// Returns how many ended.
struct ExpireUnconfirmedStatement: PostgresPreparedStatement {
    static let sql = """
        WITH expired AS (
            SELECT a.execution_id FROM mcp_awaiting_confirmation a WHERE a.since < now() - make_interval(secs => $1)
            LIMIT 1000
        ), ended AS (
            -- The execution is locked first, then (by its trigger) the waiting row: the order a
            -- confirmation takes too.
            UPDATE mcp_tool_executions e
            SET status = 'error', output_result = NULL, completed_at = now(), duration_ms = 0, error_message = $2
            FROM expired x WHERE e.id = x.execution_id AND e.status = 'awaiting_confirmation'
            RETURNING e.id
        ), stale AS (
            -- A waiting row whose execution no longer waits (it cannot normally happen) must
            -- not fill every later sweep.
            DELETE FROM mcp_awaiting_confirmation a USING mcp_tool_executions e, expired x
            WHERE a.execution_id = x.execution_id AND e.id = x.execution_id AND e.status <> 'awaiting_confirmation'
        )
        SELECT count(*)::int FROM ended
        """
    typealias Row = Int32

    var timeoutSeconds: Double

    static func message(timeoutSeconds: Double) -> String {
        let seconds = timeoutSeconds == timeoutSeconds.rounded() ? String(Int(timeoutSeconds)) : String(timeoutSeconds)
        return "not confirmed within \(seconds) s (the tool requires confirmation: set confirmed_at and confirmed_by, "
            + "or call astra_mcpd_confirm_execution)"
    }

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(timeoutSeconds)
        bindings.append(Self.message(timeoutSeconds: timeoutSeconds))
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Int32 {
        try row.decode(Int32.self)
    }
}

/// Deletes rate-limit counters of windows that have ended (in bounded batches; a later sweep
/// takes the rest). Returns how many it deleted.
struct DeleteSpentRateCountersStatement: PostgresPreparedStatement {
    static let sql = """
        WITH spent AS (
            DELETE FROM mcp_rate_counters WHERE ctid IN (
                SELECT ctid FROM mcp_rate_counters WHERE window_end < now() LIMIT 10000)
            RETURNING 1
        )
        SELECT count(*)::int FROM spent
        """
    typealias Row = Int32

    func makeBindings() throws -> PostgresBindings { PostgresBindings() }

    func decodeRow(_ row: PostgresRow) throws -> Int32 {
        try row.decode(Int32.self)
    }
}

/// The schemas of the tools `ids`, with the revision they belong to.
struct ToolSchemasStatement: PostgresPreparedStatement {
    static let sql = "SELECT id, schema_revision, input_schema::text, output_schema::text FROM mcp_tools WHERE id = ANY($1)"
    typealias Row = (UUID, Int64, String, String?)

    var ids: [UUID]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(ids)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        var columns = RowReader(row)
        return (try columns.next(UUID.self), try columns.next(Int64.self), try columns.next(String.self), try columns.next(String?.self))
    }
}

/// Deletes up to `limit` finished executions enqueued more than `days` days ago, oldest first,
/// with what hangs off them (attempts, deliveries: ON DELETE CASCADE). Only one daemon of a
/// fleet sweeps at a time (a transaction-level advisory lock: the others skip the round), rows
/// another transaction holds are skipped, not waited for, and an execution whose callback is
/// still to be delivered stays. The tools' statistics are counters of their own and do not change.
struct DeleteExpiredExecutionsStatement: PostgresPreparedStatement {
    static let sql = """
        WITH sweeper AS (
            SELECT pg_try_advisory_xact_lock(hashtext('astra_mcpd_execution_retention')) AS chosen
        ), expired AS (
            SELECT e.id FROM mcp_tool_executions e, sweeper
            WHERE sweeper.chosen AND e.executed_at < now() - make_interval(days => $1)
              AND e.status IN ('success', 'error', 'timeout', 'cancelled', 'rate_limited')
              AND NOT EXISTS (SELECT 1 FROM mcp_callback_deliveries d
                              WHERE d.execution_id = e.id AND d.delivered_at IS NULL AND d.failed_at IS NULL)
            ORDER BY e.executed_at
            LIMIT $2
            FOR UPDATE OF e SKIP LOCKED
        ), deleted AS (
            DELETE FROM mcp_tool_executions e USING expired x WHERE e.id = x.id RETURNING 1
        )
        SELECT count(*)::int FROM deleted
        """
    typealias Row = Int32
    static let batchLimit = 5000

    var days: Int

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(Int32(days))
        bindings.append(Int32(Self.batchLimit))
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Int32 {
        try row.decode(Int32.self)
    }
}
