-- Long-running tools: cancellation asked for with SQL alone, live progress, and a hard cap on
-- a call's duration that progress does not extend.

-- `cancelled` joins the closed set of statuses: the backend asked, and the call was either
-- never sent or told to stop (`notifications/cancelled`).
ALTER TABLE mcp_tool_executions DROP CONSTRAINT mcp_tool_executions_status_check;
ALTER TABLE mcp_tool_executions ADD CONSTRAINT mcp_tool_executions_status_check
    CHECK (status IN ('pending', 'running', 'success', 'error', 'timeout', 'cancelled'));

-- Set by the backend (directly or with astra_mcpd_cancel_execution) to ask for a cancel. A
-- pending execution then ends `cancelled` without being sent; a running one is cancelled at
-- its server. One that has already ended keeps its outcome.
ALTER TABLE mcp_tool_executions ADD COLUMN cancel_requested_at TIMESTAMPTZ;

-- The latest `notifications/progress` of a running call, written at most once per
-- `progress_interval` per execution; each batch written is announced on `astra_mcpd_progress`
-- with the executions' ids (comma-separated).
ALTER TABLE mcp_tool_executions
    ADD COLUMN progress DOUBLE PRECISION,
    ADD COLUMN progress_total DOUBLE PRECISION,
    ADD COLUMN progress_message TEXT,
    ADD COLUMN progress_updated_at TIMESTAMPTZ;

-- `timeout_seconds` is now the time a call may go without a sign of life (a reply or a
-- progress notification resets it); `max_duration_seconds` is the hard cap nothing resets
-- (NULL: the daemon's `default_max_duration`).
ALTER TABLE mcp_tools ADD COLUMN max_duration_seconds INTEGER CHECK (max_duration_seconds > 0);

-- Asks for an execution to be cancelled. Returns whether it was still unfinished (false: it
-- has ended, or a cancel was already asked for).
CREATE FUNCTION astra_mcpd_cancel_execution(execution_id UUID) RETURNS BOOLEAN
LANGUAGE sql AS $$
    UPDATE mcp_tool_executions SET cancel_requested_at = now()
    WHERE id = execution_id AND status IN ('pending', 'running') AND cancel_requested_at IS NULL
    RETURNING true;
$$;

-- Every daemon hears of a cancel at once (payload: the execution id). The heartbeat and the
-- claim read `cancel_requested_at` too, so a lost notification delays a cancel by at most one
-- heartbeat.
CREATE FUNCTION astra_mcpd_cancel_requested() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('astra_mcpd_cancel', NEW.id::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER mcp_tool_executions_cancel_requested
    AFTER UPDATE OF cancel_requested_at ON mcp_tool_executions
    FOR EACH ROW
    WHEN (OLD.cancel_requested_at IS NULL AND NEW.cancel_requested_at IS NOT NULL AND NEW.status IN ('pending', 'running'))
    EXECUTE FUNCTION astra_mcpd_cancel_requested();
