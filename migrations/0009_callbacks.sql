-- Signed completion callbacks (Standard Webhooks) with an outbox.
--
-- An execution may name a `callback_url`; a team may set a default (`mcp_team_callbacks`),
-- which the enqueue trigger copies into executions inserted without one. When an execution
-- with a callback reaches a terminal status, a trigger queues its delivery in the same
-- transaction that writes the outcome: a crash between the two cannot lose it. The daemons
-- deliver the outbox with bounded concurrency, spread across daemons with SKIP LOCKED, and
-- retry with backoff until each delivery's deadline.

ALTER TABLE mcp_tool_executions ADD COLUMN callback_url TEXT
    CHECK (callback_url IS NULL OR callback_url ~ '^https?://');

-- Per team: the default callback URL, and the `whsec_` signing secret, encrypted under the
-- same keyring as server credentials (`astra-mcpd callbacks set-secret`, or the inbox below).
CREATE TABLE mcp_team_callbacks (
    team_id UUID PRIMARY KEY,
    default_url TEXT CHECK (default_url IS NULL OR default_url ~ '^https?://'),
    encrypted_secret TEXT,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- How a backend sets a team's signing secret with SQL alone (write-only, like the credential
-- inbox): the daemon encrypts it into mcp_team_callbacks and empties the inbox at once.
CREATE TABLE mcp_team_callback_secret_inbox (
    id BIGSERIAL PRIMARY KEY,
    team_id UUID NOT NULL,
    secret TEXT NOT NULL CHECK (secret ~ '^whsec_[A-Za-z0-9+/=]{16,}$'),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TRIGGER mcp_team_callback_secret_inbox_posted
    AFTER INSERT ON mcp_team_callback_secret_inbox
    FOR EACH STATEMENT EXECUTE FUNCTION astra_mcpd_credential_posted();

-- The outbox: one row per delivery; `id` is the message's `webhook-id`, the same for every
-- attempt. `payload` is the exact body sent (and signed).
CREATE TABLE mcp_callback_deliveries (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    execution_id UUID NOT NULL REFERENCES mcp_tool_executions (id) ON DELETE CASCADE,
    team_id UUID NOT NULL,
    url TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Set by the daemon from `callback_deadline_seconds` at its first attempt.
    deadline_at TIMESTAMPTZ,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempts INTEGER NOT NULL DEFAULT 0,
    delivered_at TIMESTAMPTZ,
    -- Set when the deadline passed without a 2xx: no more attempts.
    failed_at TIMESTAMPTZ,
    last_status_code INTEGER,
    last_error TEXT,
    lease_owner TEXT,
    lease_expires_at TIMESTAMPTZ
);
-- What a delivery claim walks: the undelivered ones, soonest first.
CREATE INDEX idx_mcp_callback_deliveries_due ON mcp_callback_deliveries (next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX idx_mcp_callback_deliveries_execution ON mcp_callback_deliveries (execution_id);

-- Every attempt: its HTTP status (NULL when none came), latency and error.
CREATE TABLE mcp_callback_attempts (
    delivery_id UUID NOT NULL REFERENCES mcp_callback_deliveries (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    attempted_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    status_code INTEGER,
    latency_ms INTEGER NOT NULL,
    error TEXT,
    PRIMARY KEY (delivery_id, attempt)
);

-- The enqueue trigger, now also filling in the team's default callback.
CREATE OR REPLACE FUNCTION astra_mcpd_enqueue_executions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO mcp_execution_queue (execution_id, server_id, priority)
    SELECT id, server_id, priority FROM new_executions WHERE status = 'pending';
    IF FOUND THEN
        PERFORM pg_notify('astra_mcpd_pending', '');
    END IF;
    UPDATE mcp_tool_executions e SET callback_url = c.default_url
    FROM new_executions n JOIN mcp_team_callbacks c ON c.team_id = n.team_id
    WHERE e.id = n.id AND n.callback_url IS NULL AND c.default_url IS NOT NULL;
    RETURN NULL;
END;
$$;

-- The outcome's delivery, queued in the outcome's own transaction. The body follows the
-- Standard Webhooks payload shape: {type, timestamp, data}.
CREATE FUNCTION astra_mcpd_queue_callback() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO mcp_callback_deliveries (execution_id, team_id, url, payload)
    VALUES (NEW.id, NEW.team_id, NEW.callback_url, jsonb_build_object(
        'type', 'execution.finished',
        'timestamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'data', jsonb_build_object(
            'id', NEW.id, 'status', NEW.status, 'result', NEW.output_result, 'error', NEW.error_message,
            'tool_id', NEW.tool_id, 'server_id', NEW.server_id, 'team_id', NEW.team_id, 'user_id', NEW.user_id,
            'started_at', NEW.started_at, 'completed_at', NEW.completed_at, 'duration_ms', NEW.duration_ms,
            'attempts', NEW.attempts))::text);
    -- One notification per transaction, however many rows (PostgreSQL folds duplicates).
    PERFORM pg_notify('astra_mcpd_callbacks', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER mcp_tool_executions_callback
    AFTER UPDATE OF status ON mcp_tool_executions
    FOR EACH ROW
    WHEN (OLD.status IN ('pending', 'running') AND NEW.status IN ('success', 'error', 'timeout', 'cancelled')
          AND NEW.callback_url IS NOT NULL)
    EXECUTE FUNCTION astra_mcpd_queue_callback();
