-- How a backend stores a credential with SQL alone, without ever holding the daemon's key:
-- it INSERTs the secret into this write-only inbox; the trigger wakes the daemon, which
-- encrypts it into mcp_server_credentials and deletes the inbox row in one transaction,
-- within moments. Grant the backend's role INSERT only (no SELECT), e.g.:
--   GRANT INSERT ON mcp_server_credential_inbox TO backend;
-- The plaintext is briefly in this table (and so in PostgreSQL's WAL): keep WAL archives as
-- protected as the database itself, or use `astra-mcpd credentials set` instead.
CREATE TABLE mcp_server_credential_inbox (
    id BIGSERIAL PRIMARY KEY,
    server_id UUID NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
    credential_type TEXT NOT NULL CHECK (credential_type IN ('api_key', 'oauth_token', 'basic_auth', 'custom')),
    secret TEXT NOT NULL,
    expires_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE FUNCTION astra_mcpd_credential_posted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('astra_mcpd_credentials', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER mcp_server_credential_inbox_posted
    AFTER INSERT ON mcp_server_credential_inbox
    FOR EACH STATEMENT EXECUTE FUNCTION astra_mcpd_credential_posted();
