-- Server lifecycle: health checks, scheduled and requested tool syncs, circuit breakers,
-- retries with their history.
--
-- Periodic work is scheduled in the database, like the queue: `next_health_check_at` and
-- `next_sync_at` say when a server is due, and a daemon claims due servers with
-- FOR UPDATE SKIP LOCKED while moving the time forward. With several daemons on one database
-- each check and each sync therefore runs once per interval, by whichever daemon got there.

ALTER TABLE mcp_servers
    ADD COLUMN next_health_check_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ADD COLUMN next_sync_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- The backend sets this to ask for a tool sync now: UPDATE mcp_servers SET sync_requested_at = now() WHERE id = …
    ADD COLUMN sync_requested_at TIMESTAMPTZ,
    ADD COLUMN last_synced_at TIMESTAMPTZ,
    ADD COLUMN last_health_check_at TIMESTAMPTZ,
    -- Since when the server's checks have been failing without a break; NULL while they pass.
    ADD COLUMN failing_since TIMESTAMPTZ,
    ADD COLUMN is_healthy BOOLEAN NOT NULL DEFAULT true,
    -- Why astra-mcpd deactivated the server, if it did.
    ADD COLUMN deactivated_reason TEXT,
    ADD COLUMN circuit_state TEXT NOT NULL DEFAULT 'closed' CHECK (circuit_state IN ('closed', 'open', 'half_open')),
    ADD COLUMN circuit_changed_at TIMESTAMPTZ,
    ADD COLUMN circuit_reason TEXT;

CREATE INDEX idx_mcp_servers_next_health_check ON mcp_servers (next_health_check_at) WHERE is_active IS NOT FALSE;
CREATE INDEX idx_mcp_servers_next_sync ON mcp_servers (next_sync_at) WHERE is_active IS NOT FALSE;

-- Operator settings for retries: NULL means the daemon's default, and the tool's MCP
-- annotations (idempotentHint, readOnlyHint) for whether a sent request may be repeated.
ALTER TABLE mcp_tools
    ADD COLUMN max_attempts INTEGER CHECK (max_attempts BETWEEN 1 AND 20),
    ADD COLUMN is_idempotent BOOLEAN;

-- Every attempt that did not end the execution, with its cause; the final attempt is the
-- execution row itself.
CREATE TABLE mcp_execution_attempts (
    execution_id UUID NOT NULL REFERENCES mcp_tool_executions (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    ended_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    error_message TEXT NOT NULL,
    PRIMARY KEY (execution_id, attempt)
);

-- When the queue row was last handed back for a retry: the next claim waits for it.
ALTER TABLE mcp_execution_queue ADD COLUMN last_error TEXT;

-- A change to a server that daemons must see at once: one notification per changed row,
-- carrying its id. (Changes are rare; the columns the daemon itself writes do not fire it.)
CREATE FUNCTION astra_mcpd_server_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('astra_mcpd_servers', OLD.id::text);
    ELSE
        PERFORM pg_notify('astra_mcpd_servers', NEW.id::text);
    END IF;
    RETURN NULL;
END;
$$;

-- UPDATE OF fires whenever a listed column is assigned, even to the same value, so the WHEN
-- clause keeps the daemon's own writes (schedules, health, circuit state) quiet.
CREATE TRIGGER mcp_servers_added_or_deleted
    AFTER INSERT OR DELETE ON mcp_servers
    FOR EACH ROW EXECUTE FUNCTION astra_mcpd_server_changed();

CREATE TRIGGER mcp_servers_changed
    AFTER UPDATE ON mcp_servers
    FOR EACH ROW
    WHEN (OLD.config IS DISTINCT FROM NEW.config
          OR OLD.is_active IS DISTINCT FROM NEW.is_active
          OR OLD.server_type IS DISTINCT FROM NEW.server_type
          OR (NEW.sync_requested_at IS NOT NULL AND NEW.sync_requested_at IS DISTINCT FROM OLD.sync_requested_at))
    EXECUTE FUNCTION astra_mcpd_server_changed();
