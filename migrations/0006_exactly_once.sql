-- Every execution ends exactly once.
--
-- Counters that a busy tool can push past 2^31 would make every later outcome write of that
-- tool fail, so they are bigint.
ALTER TABLE mcp_tools
    ALTER COLUMN execution_count TYPE BIGINT,
    ALTER COLUMN success_count TYPE BIGINT,
    ALTER COLUMN error_count TYPE BIGINT;

-- Leases are held by one daemon process (`lease_owner` is `<worker_id>/<instance>`, new for
-- each process), and every write of a claimed execution is fenced by the claim it belongs to:
-- each claim draws a new `lease_token`, and an outcome, retry or hand-back is written only while
-- the queue row still holds that token. A worker whose lease was taken over cannot overwrite the
-- newer claim, even one of its own process (attempt numbers can repeat, tokens cannot).
ALTER TABLE mcp_execution_queue ADD COLUMN lease_token UUID;

-- Several daemons on one database share each server's circuit: a daemon that opens or closes
-- a circuit records it with the time the cool-down ends, and the others adopt it when told
-- (`astra_mcpd_circuits`, payload: the server id). Only the daemons' own transitions fire it.
ALTER TABLE mcp_servers ADD COLUMN circuit_open_until TIMESTAMPTZ;

CREATE FUNCTION astra_mcpd_circuit_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('astra_mcpd_circuits', NEW.id::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER mcp_servers_circuit_changed
    AFTER UPDATE OF circuit_state, circuit_open_until ON mcp_servers
    FOR EACH ROW
    WHEN (OLD.circuit_state IS DISTINCT FROM NEW.circuit_state OR OLD.circuit_open_until IS DISTINCT FROM NEW.circuit_open_until)
    EXECUTE FUNCTION astra_mcpd_circuit_changed();

-- A credential stored or replaced by any means (the inbox, `astra-mcpd credentials set`, SQL)
-- reaches every daemon's sessions: the server's sessions are replaced, so the next call uses
-- the new secret. `last_used_at`, which the daemons write, does not fire it.
CREATE FUNCTION astra_mcpd_credential_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('astra_mcpd_servers', 'credentials:' || OLD.server_id::text);
    ELSE
        PERFORM pg_notify('astra_mcpd_servers', 'credentials:' || NEW.server_id::text);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER mcp_server_credentials_changed
    AFTER INSERT OR DELETE OR UPDATE OF encrypted_value, expires_at ON mcp_server_credentials
    FOR EACH ROW EXECUTE FUNCTION astra_mcpd_credential_changed();
