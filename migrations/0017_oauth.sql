-- OAuth 2.1 client credentials for remote servers (`config.auth.type = 'oauth_client_credentials'`):
-- the client's secret (`client_secret_basic`, `client_secret_post`) and private key
-- (`private_key_jwt`, a PEM) are credentials like the others, stored encrypted. Access tokens
-- are never stored: the daemon keeps them in memory only.

ALTER TABLE mcp_server_credentials DROP CONSTRAINT mcp_server_credentials_credential_type_check;
ALTER TABLE mcp_server_credentials ADD CONSTRAINT mcp_server_credentials_credential_type_check
    CHECK (credential_type IN ('api_key', 'oauth_token', 'basic_auth', 'custom', 'oauth_client_secret', 'oauth_private_key'));

ALTER TABLE mcp_server_credential_inbox DROP CONSTRAINT mcp_server_credential_inbox_credential_type_check;
ALTER TABLE mcp_server_credential_inbox ADD CONSTRAINT mcp_server_credential_inbox_credential_type_check
    CHECK (credential_type IN ('api_key', 'oauth_token', 'basic_auth', 'custom', 'oauth_client_secret', 'oauth_private_key'));
