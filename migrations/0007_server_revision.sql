-- A server row's revision: one more each time what a session is built from changes (its type,
-- config, name or whether it is active). Every descriptor the daemon reads carries it, so a row
-- read before a change (a claim that raced the UPDATE, a late notification) is known to be older
-- than the one the pool already runs, and never replaces the newer sessions. Health, circuit and
-- statistics columns, which the daemons write, leave it alone.
ALTER TABLE mcp_servers ADD COLUMN revision BIGINT NOT NULL DEFAULT 1;

CREATE FUNCTION astra_mcpd_server_revision() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.server_type, NEW.config, NEW.name, NEW.is_active) IS DISTINCT FROM (OLD.server_type, OLD.config, OLD.name, OLD.is_active) THEN
        NEW.revision := OLD.revision + 1;
    ELSE
        NEW.revision := OLD.revision;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER mcp_servers_revision
    BEFORE UPDATE ON mcp_servers
    FOR EACH ROW
    EXECUTE FUNCTION astra_mcpd_server_revision();
