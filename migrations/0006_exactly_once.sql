-- Every execution ends exactly once.
--
-- Counters that a busy tool can push past 2^31 would make every later outcome write of that
-- tool fail, so they are bigint.
ALTER TABLE mcp_tools
    ALTER COLUMN execution_count TYPE BIGINT,
    ALTER COLUMN success_count TYPE BIGINT,
    ALTER COLUMN error_count TYPE BIGINT;

-- Leases are held by one daemon process (`lease_owner` is `<worker_id>/<instance>`, new for
-- each process), and every write of a claimed execution is fenced by the attempt it belongs
-- to (`mcp_execution_queue.attempt`): a worker whose lease was taken over cannot overwrite
-- the newer attempt. Nothing to change in the schema for that; this index serves the
-- heartbeat, which renews every lease of one owner.
CREATE INDEX idx_mcp_execution_queue_lease_owner
    ON mcp_execution_queue (lease_owner)
    WHERE lease_owner IS NOT NULL;
