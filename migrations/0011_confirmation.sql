-- Confirmation: a tool with `requires_confirmation = true` is not run until its execution
-- carries `confirmed_at` and `confirmed_by`. Until then the execution is
-- `awaiting_confirmation`, outside the queue; the daemons end it `error` once
-- `confirmation_timeout_seconds` have passed.

ALTER TABLE mcp_tool_executions DROP CONSTRAINT mcp_tool_executions_status_check;
ALTER TABLE mcp_tool_executions ADD CONSTRAINT mcp_tool_executions_status_check
    CHECK (status IN ('pending', 'awaiting_confirmation', 'running', 'success', 'error', 'timeout', 'cancelled'));

ALTER TABLE mcp_tool_executions
    ADD COLUMN confirmed_at TIMESTAMPTZ,
    ADD COLUMN confirmed_by UUID;

-- The executions waiting for a confirmation: small, so the expiry sweep never walks the
-- executions table (an index on its status would cost every status update its HOT path).
CREATE TABLE mcp_awaiting_confirmation (
    execution_id UUID PRIMARY KEY REFERENCES mcp_tool_executions (id) ON DELETE CASCADE,
    since TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The enqueue trigger, now holding back what needs a confirmation it does not carry yet.
CREATE OR REPLACE FUNCTION astra_mcpd_enqueue_executions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
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
    UPDATE mcp_tool_executions e SET callback_url = c.default_url
    FROM new_executions n JOIN mcp_team_callbacks c ON c.team_id = n.team_id
    WHERE e.id = n.id AND n.callback_url IS NULL AND c.default_url IS NOT NULL;
    RETURN NULL;
END;
$$;

-- Confirmed, or cancelled, while it waited: the status changes in the row's own update.
CREATE FUNCTION astra_mcpd_confirmation_answered() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.cancel_requested_at IS NOT NULL THEN
        NEW.status := 'cancelled';
        NEW.completed_at := now();
        NEW.duration_ms := 0;
        NEW.error_message := 'cancelled before it was confirmed';
    ELSIF NEW.confirmed_at IS NOT NULL AND NEW.confirmed_by IS NOT NULL THEN
        NEW.status := 'pending';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER mcp_tool_executions_confirmation_answered
    BEFORE UPDATE OF confirmed_at, confirmed_by, cancel_requested_at ON mcp_tool_executions
    FOR EACH ROW
    WHEN (OLD.status = 'awaiting_confirmation')
    EXECUTE FUNCTION astra_mcpd_confirmation_answered();

-- A confirmed execution joins the queue; a cancelled one is announced as finished.
CREATE FUNCTION astra_mcpd_confirmation_settled() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM mcp_awaiting_confirmation WHERE execution_id = NEW.id;
    IF NEW.status = 'pending' THEN
        INSERT INTO mcp_execution_queue (execution_id, server_id, priority) VALUES (NEW.id, NEW.server_id, NEW.priority);
        PERFORM pg_notify('astra_mcpd_pending', '');
    ELSE
        PERFORM pg_notify('astra_mcpd_finished', NEW.id::text);
    END IF;
    RETURN NULL;
END;
$$;

-- (The columns the BEFORE trigger answers to are listed too: a trigger `OF status` fires only
-- when the statement itself sets status, not when a BEFORE trigger does.)
CREATE TRIGGER mcp_tool_executions_confirmation_settled
    AFTER UPDATE OF status, confirmed_at, confirmed_by, cancel_requested_at ON mcp_tool_executions
    FOR EACH ROW
    WHEN (OLD.status = 'awaiting_confirmation' AND NEW.status <> 'awaiting_confirmation')
    EXECUTE FUNCTION astra_mcpd_confirmation_settled();

-- Confirms an execution that waits for it. Returns whether it did.
CREATE FUNCTION astra_mcpd_confirm_execution(execution_id UUID, confirmed_by UUID) RETURNS BOOLEAN
LANGUAGE sql AS $$
    UPDATE mcp_tool_executions SET confirmed_at = now(), confirmed_by = astra_mcpd_confirm_execution.confirmed_by
    WHERE id = execution_id AND status = 'awaiting_confirmation'
    RETURNING true;
$$;

-- Cancelling now reaches executions that wait for a confirmation too.
CREATE OR REPLACE FUNCTION astra_mcpd_cancel_execution(execution_id UUID) RETURNS BOOLEAN
LANGUAGE sql AS $$
    UPDATE mcp_tool_executions SET cancel_requested_at = now()
    WHERE id = execution_id AND status IN ('pending', 'awaiting_confirmation', 'running') AND cancel_requested_at IS NULL
    RETURNING true;
$$;

-- The callback trigger: an execution that ends while it waits (cancelled, expired) has one too;
-- a cancel ends it in the BEFORE trigger, so `cancel_requested_at` is among the columns.
DROP TRIGGER mcp_tool_executions_callback ON mcp_tool_executions;
CREATE TRIGGER mcp_tool_executions_callback
    AFTER UPDATE OF status, cancel_requested_at ON mcp_tool_executions
    FOR EACH ROW
    WHEN (OLD.status IN ('pending', 'awaiting_confirmation', 'running') AND NEW.status IN ('success', 'error', 'timeout', 'cancelled')
          AND NEW.callback_url IS NOT NULL)
    EXECUTE FUNCTION astra_mcpd_queue_callback();
