-- What the daemon needs on top of the seed: the `running` status, integrity enforced by the
-- database, tool metadata from tools/list, and a lean queue table beside the executions.
--
-- Why a separate queue table: finished executions are the audit log and grow for ever. The
-- claim query must stay fast whatever their number, so it scans only `mcp_execution_queue`,
-- which holds just the executions not yet finished and is emptied as they end (small, hot,
-- cheap to vacuum). Enqueueing stays a plain INSERT into `mcp_tool_executions`: a
-- statement-level trigger copies the new pending rows into the queue and sends ONE
-- notification per statement, however many rows it inserted.

-- Statuses are a closed set; `running` is added here, later migrations widen it again.
ALTER TABLE mcp_tool_executions DROP CONSTRAINT mcp_tool_executions_status_check;
ALTER TABLE mcp_tool_executions ADD CONSTRAINT mcp_tool_executions_status_check
    CHECK (status IN ('pending', 'running', 'success', 'error', 'timeout'));

-- Higher runs first; the backend may set it on INSERT.
ALTER TABLE mcp_tool_executions ADD COLUMN priority SMALLINT NOT NULL DEFAULT 0;
-- How many times the daemon started this execution (1 unless it was retried or recovered).
ALTER TABLE mcp_tool_executions ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;

-- An execution can only name a tool of its own server, and a server of its own team.
ALTER TABLE mcp_servers ADD CONSTRAINT mcp_servers_id_team_key UNIQUE (id, team_id);
ALTER TABLE mcp_tools ADD CONSTRAINT mcp_tools_id_server_key UNIQUE (id, server_id);
ALTER TABLE mcp_tool_executions
    ADD CONSTRAINT mcp_tool_executions_tool_of_server_fkey
        FOREIGN KEY (tool_id, server_id) REFERENCES mcp_tools (id, server_id),
    ADD CONSTRAINT mcp_tool_executions_server_of_team_fkey
        FOREIGN KEY (server_id, team_id) REFERENCES mcp_servers (id, team_id);

-- Tool metadata from tools/list, stored verbatim. A tool the server no longer offers is
-- disabled, never deleted; `removed_at` says when, and `enabled_before_removal` restores the
-- operator's choice if it comes back.
ALTER TABLE mcp_tools ADD COLUMN title TEXT;
ALTER TABLE mcp_tools ADD COLUMN annotations JSONB;
ALTER TABLE mcp_tools ADD COLUMN output_schema JSONB;
ALTER TABLE mcp_tools ADD COLUMN removed_at TIMESTAMPTZ;
ALTER TABLE mcp_tools ADD COLUMN enabled_before_removal BOOLEAN;

-- The queue: one row per unfinished execution.
CREATE TABLE mcp_execution_queue (
    execution_id UUID PRIMARY KEY REFERENCES mcp_tool_executions (id) ON DELETE CASCADE,
    server_id UUID NOT NULL,
    priority SMALLINT NOT NULL DEFAULT 0,
    -- Not claimable before this time (retry backoff, open circuit).
    available_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempt INTEGER NOT NULL DEFAULT 0,
    -- The daemon that holds the execution, and until when its lease is good.
    lease_owner TEXT,
    lease_expires_at TIMESTAMPTZ,
    enqueued_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- What the claim query walks: unleased rows, best first.
CREATE INDEX idx_mcp_execution_queue_claimable
    ON mcp_execution_queue (priority DESC, available_at)
    WHERE lease_owner IS NULL;
CREATE INDEX idx_mcp_execution_queue_lease_expiry
    ON mcp_execution_queue (lease_expires_at)
    WHERE lease_owner IS NOT NULL;

CREATE FUNCTION astra_mcpd_enqueue_executions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO mcp_execution_queue (execution_id, server_id, priority)
    SELECT id, server_id, priority FROM new_executions WHERE status = 'pending';
    IF FOUND THEN
        PERFORM pg_notify('astra_mcpd_pending', '');
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER mcp_tool_executions_enqueue
    AFTER INSERT ON mcp_tool_executions
    REFERENCING NEW TABLE AS new_executions
    FOR EACH STATEMENT EXECUTE FUNCTION astra_mcpd_enqueue_executions();
