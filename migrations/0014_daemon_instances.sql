-- Every running daemon process says it is alive, so `astra-mcpd status` can show the fleet
-- from any host: which instances run, which version, how busy, and how many sessions each holds
-- to each server. Each instance upserts its row every few seconds and deletes it on a clean
-- stop; a row not renewed for an hour (a crash) is deleted by the next heartbeat of any.
CREATE TABLE mcp_daemon_instances (
    instance_id TEXT PRIMARY KEY,
    hostname TEXT NOT NULL,
    pid INTEGER NOT NULL,
    version TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    in_flight INTEGER NOT NULL DEFAULT 0,
    -- Server id (text) → live sessions to it.
    sessions JSONB NOT NULL DEFAULT '{}'
);
