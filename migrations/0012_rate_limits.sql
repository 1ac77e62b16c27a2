-- Rate limits per user and per team, enforced where executions are enqueued, so every daemon
-- (and every backend) shares them.
--
-- A limit is `max_executions` per `window_seconds`, counted in fixed windows aligned to the
-- Unix epoch (a day runs from 00:00 UTC). A row with `team_id` NULL is the default for every
-- team without a row of its own; `scope` says whether it counts each user of the team apart
-- (`user`) or the whole team (`team`). Both may apply to one execution.
--
-- An execution over a limit either ends `rate_limited` (`on_limit = 'reject'`), its
-- `error_message` saying when it may run, or waits (`on_limit = 'wait'`): it stays `pending`
-- and is claimable from `rate_limited_until`, the start of the first window with room.
--
-- With no limits at all, enqueueing does exactly what it did before.

ALTER TABLE mcp_tool_executions DROP CONSTRAINT mcp_tool_executions_status_check;
ALTER TABLE mcp_tool_executions ADD CONSTRAINT mcp_tool_executions_status_check
    CHECK (status IN ('pending', 'awaiting_confirmation', 'running', 'success', 'error', 'timeout', 'cancelled', 'rate_limited'));

-- When a waiting execution may run (NULL: it did not wait for a rate limit).
ALTER TABLE mcp_tool_executions ADD COLUMN rate_limited_until TIMESTAMPTZ;

CREATE TABLE mcp_rate_limits (
    -- NULL: the default for teams without a row of their own.
    team_id UUID,
    scope TEXT NOT NULL CHECK (scope IN ('user', 'team')),
    max_executions INTEGER NOT NULL CHECK (max_executions > 0),
    window_seconds INTEGER NOT NULL CHECK (window_seconds BETWEEN 1 AND 31622400),
    on_limit TEXT NOT NULL DEFAULT 'reject' CHECK (on_limit IN ('reject', 'wait')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (team_id, scope)
);

-- One counter per team (user_id is the nil UUID) or user, per window.
CREATE TABLE mcp_rate_counters (
    team_id UUID NOT NULL,
    user_id UUID NOT NULL,
    window_seconds INTEGER NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    -- Kept for the sweep that deletes spent counters (its index).
    window_end TIMESTAMPTZ NOT NULL,
    executions INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (team_id, user_id, window_seconds, window_start)
);
CREATE INDEX idx_mcp_rate_counters_window_end ON mcp_rate_counters (window_end);

-- Takes one execution's place in the first window where both of its limits have room; `run_at`
-- is when it may run, or `refusal` says why it may not. Counters are locked team first, then
-- user, so concurrent enqueues of one team serialise instead of deadlocking.
CREATE FUNCTION astra_mcpd_take_rate_slot(p_team UUID, p_user UUID, OUT run_at TIMESTAMPTZ, OUT refusal TEXT)
LANGUAGE plpgsql AS $$
DECLARE
    team_limit mcp_rate_limits;
    user_limit mcp_rate_limits;
    has_team BOOLEAN;
    has_user BOOLEAN;
    candidate TIMESTAMPTZ := now();
    team_window TIMESTAMPTZ;
    user_window TIMESTAMPTZ;
    used INTEGER;
    blocked mcp_rate_limits;
    blocked_until TIMESTAMPTZ;
BEGIN
    SELECT * INTO team_limit FROM mcp_rate_limits WHERE scope = 'team' AND (team_id = p_team OR team_id IS NULL)
    ORDER BY team_id NULLS LAST LIMIT 1;
    has_team := FOUND;
    SELECT * INTO user_limit FROM mcp_rate_limits WHERE scope = 'user' AND (team_id = p_team OR team_id IS NULL)
    ORDER BY team_id NULLS LAST LIMIT 1;
    has_user := FOUND AND p_user IS NOT NULL;
    IF NOT has_team AND NOT has_user THEN
        run_at := candidate;
        RETURN;
    END IF;
    -- Waiting looks at most a year of windows ahead.
    FOR attempt IN 1..400 LOOP
        blocked := NULL;
        IF has_team THEN
            team_window := to_timestamp(floor(extract(epoch FROM candidate) / team_limit.window_seconds) * team_limit.window_seconds);
            INSERT INTO mcp_rate_counters (team_id, user_id, window_seconds, window_start, window_end)
            VALUES (p_team, '00000000-0000-0000-0000-000000000000', team_limit.window_seconds, team_window,
                    team_window + make_interval(secs => team_limit.window_seconds))
            ON CONFLICT DO NOTHING;
            SELECT executions INTO used FROM mcp_rate_counters
            WHERE team_id = p_team AND user_id = '00000000-0000-0000-0000-000000000000'
              AND window_seconds = team_limit.window_seconds AND window_start = team_window
            FOR UPDATE;
            IF used >= team_limit.max_executions THEN
                blocked := team_limit;
                blocked_until := team_window + make_interval(secs => team_limit.window_seconds);
            END IF;
        END IF;
        IF blocked IS NULL AND has_user THEN
            user_window := to_timestamp(floor(extract(epoch FROM candidate) / user_limit.window_seconds) * user_limit.window_seconds);
            INSERT INTO mcp_rate_counters (team_id, user_id, window_seconds, window_start, window_end)
            VALUES (p_team, p_user, user_limit.window_seconds, user_window, user_window + make_interval(secs => user_limit.window_seconds))
            ON CONFLICT DO NOTHING;
            SELECT executions INTO used FROM mcp_rate_counters
            WHERE team_id = p_team AND user_id = p_user AND window_seconds = user_limit.window_seconds AND window_start = user_window
            FOR UPDATE;
            IF used >= user_limit.max_executions THEN
                blocked := user_limit;
                blocked_until := user_window + make_interval(secs => user_limit.window_seconds);
            END IF;
        END IF;
        IF blocked IS NULL THEN
            IF has_team THEN
                UPDATE mcp_rate_counters SET executions = executions + 1
                WHERE team_id = p_team AND user_id = '00000000-0000-0000-0000-000000000000'
                  AND window_seconds = team_limit.window_seconds AND window_start = team_window;
            END IF;
            IF has_user THEN
                UPDATE mcp_rate_counters SET executions = executions + 1
                WHERE team_id = p_team AND user_id = p_user AND window_seconds = user_limit.window_seconds AND window_start = user_window;
            END IF;
            run_at := candidate;
            RETURN;
        END IF;
        IF blocked.on_limit = 'reject' THEN
            refusal := format('rate limit reached: %s executions per %s s per %s%s; it may run from %s',
                blocked.max_executions, blocked.window_seconds, blocked.scope,
                CASE WHEN blocked.team_id IS NULL THEN ' (the default limit)' ELSE ' (the team''s limit)' END,
                to_char(blocked_until AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'));
            RETURN;
        END IF;
        candidate := blocked_until;
    END LOOP;
    refusal := 'rate limit reached: no window with room in the next 400';
END;
$$;

-- The enqueue trigger, now taking each pending execution's rate slot first when any limit exists.
CREATE OR REPLACE FUNCTION astra_mcpd_enqueue_executions() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    execution RECORD;
    slot RECORD;
BEGIN
    -- The team's default callback first: an execution refused below announces its end to it.
    UPDATE mcp_tool_executions e SET callback_url = c.default_url
    FROM new_executions n JOIN mcp_team_callbacks c ON c.team_id = n.team_id
    WHERE e.id = n.id AND n.callback_url IS NULL AND c.default_url IS NOT NULL;

    IF NOT EXISTS (SELECT 1 FROM mcp_rate_limits) THEN
        WITH held AS (
            SELECT n.id FROM new_executions n JOIN mcp_tools t ON t.id = n.tool_id
            WHERE n.status = 'pending' AND t.requires_confirmation AND (n.confirmed_at IS NULL OR n.confirmed_by IS NULL)
        ), marked AS (
            UPDATE mcp_tool_executions e SET status = 'awaiting_confirmation' FROM held h WHERE e.id = h.id RETURNING e.id
        )
        INSERT INTO mcp_awaiting_confirmation (execution_id) SELECT id FROM marked;

        INSERT INTO mcp_execution_queue (execution_id, server_id, priority)
        SELECT n.id, n.server_id, n.priority FROM new_executions n
        WHERE n.status = 'pending' AND NOT EXISTS (SELECT 1 FROM mcp_awaiting_confirmation a WHERE a.execution_id = n.id);
        IF FOUND THEN
            PERFORM pg_notify('astra_mcpd_pending', '');
        END IF;
        RETURN NULL;
    END IF;

    -- In the order the claim would take them.
    FOR execution IN SELECT n.id, n.team_id, n.user_id FROM new_executions n WHERE n.status = 'pending' ORDER BY n.priority DESC, n.id LOOP
        SELECT * INTO slot FROM astra_mcpd_take_rate_slot(execution.team_id, execution.user_id);
        IF slot.refusal IS NOT NULL THEN
            UPDATE mcp_tool_executions
            SET status = 'rate_limited', completed_at = now(), duration_ms = 0, error_message = slot.refusal
            WHERE id = execution.id;
            PERFORM pg_notify('astra_mcpd_finished', execution.id::text);
        ELSIF slot.run_at > now() THEN
            UPDATE mcp_tool_executions SET rate_limited_until = slot.run_at WHERE id = execution.id;
        END IF;
    END LOOP;

    WITH held AS (
        SELECT n.id FROM new_executions n JOIN mcp_tools t ON t.id = n.tool_id JOIN mcp_tool_executions e ON e.id = n.id
        WHERE e.status = 'pending' AND t.requires_confirmation AND (n.confirmed_at IS NULL OR n.confirmed_by IS NULL)
    ), marked AS (
        UPDATE mcp_tool_executions e SET status = 'awaiting_confirmation' FROM held h WHERE e.id = h.id RETURNING e.id
    )
    INSERT INTO mcp_awaiting_confirmation (execution_id) SELECT id FROM marked;

    INSERT INTO mcp_execution_queue (execution_id, server_id, priority, available_at)
    SELECT e.id, e.server_id, e.priority, coalesce(e.rate_limited_until, now())
    FROM new_executions n JOIN mcp_tool_executions e ON e.id = n.id
    WHERE e.status = 'pending' AND NOT EXISTS (SELECT 1 FROM mcp_awaiting_confirmation a WHERE a.execution_id = n.id);
    IF FOUND THEN
        PERFORM pg_notify('astra_mcpd_pending', '');
    END IF;
    RETURN NULL;
END;
$$;

-- A confirmed execution that waited for a rate limit joins the queue at its window.
CREATE OR REPLACE FUNCTION astra_mcpd_confirmation_settled() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM mcp_awaiting_confirmation WHERE execution_id = NEW.id;
    IF NEW.status = 'pending' THEN
        INSERT INTO mcp_execution_queue (execution_id, server_id, priority, available_at)
        VALUES (NEW.id, NEW.server_id, NEW.priority, greatest(now(), coalesce(NEW.rate_limited_until, now())));
        PERFORM pg_notify('astra_mcpd_pending', '');
    ELSE
        PERFORM pg_notify('astra_mcpd_finished', NEW.id::text);
    END IF;
    RETURN NULL;
END;
$$;

-- The callback trigger: a refused execution has its callback too.
DROP TRIGGER mcp_tool_executions_callback ON mcp_tool_executions;
CREATE TRIGGER mcp_tool_executions_callback
    AFTER UPDATE OF status, cancel_requested_at ON mcp_tool_executions
    FOR EACH ROW
    WHEN (OLD.status IN ('pending', 'awaiting_confirmation', 'running')
          AND NEW.status IN ('success', 'error', 'timeout', 'cancelled', 'rate_limited')
          AND NEW.callback_url IS NOT NULL)
    EXECUTE FUNCTION astra_mcpd_queue_callback();
