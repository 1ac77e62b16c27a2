-- The four tables of the product's seed design, with the seed's names and columns: they are
-- the public contract with the backend. Team, user, chat and message ids are plain UUIDs
-- because the host application owns those tables (and their row-level security policies).

CREATE TABLE mcp_servers (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    team_id UUID NOT NULL,

    name TEXT NOT NULL,
    description TEXT,
    server_type TEXT NOT NULL CHECK (server_type IN ('stdio', 'sse', 'http')),

    -- stdio: {"command": "...", "args": [...], "env": {...}, "cwd": "..."}
    -- sse / http: {"url": "...", "auth": {...}}
    config JSONB NOT NULL,

    is_active BOOLEAN DEFAULT true,
    last_connected_at TIMESTAMPTZ,
    connection_status TEXT DEFAULT 'pending'
        CHECK (connection_status IN ('pending', 'connected', 'error', 'disconnected')),
    last_error TEXT,

    created_at TIMESTAMPTZ DEFAULT now(),
    updated_at TIMESTAMPTZ DEFAULT now(),
    created_by UUID,

    CONSTRAINT unique_server_name_per_team UNIQUE (team_id, name)
);
CREATE INDEX idx_mcp_servers_team_id ON mcp_servers (team_id);
CREATE INDEX idx_mcp_servers_is_active ON mcp_servers (is_active);

CREATE TABLE mcp_tools (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    server_id UUID NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,

    tool_name TEXT NOT NULL,
    description TEXT,
    input_schema JSONB NOT NULL,

    is_enabled BOOLEAN DEFAULT true,
    requires_confirmation BOOLEAN DEFAULT false,
    timeout_seconds INTEGER DEFAULT 30,

    execution_count INTEGER DEFAULT 0,
    success_count INTEGER DEFAULT 0,
    error_count INTEGER DEFAULT 0,
    avg_duration_ms INTEGER,
    last_executed_at TIMESTAMPTZ,

    synced_at TIMESTAMPTZ DEFAULT now(),

    CONSTRAINT unique_tool_per_server UNIQUE (server_id, tool_name)
);
CREATE INDEX idx_mcp_tools_server_id ON mcp_tools (server_id);
CREATE INDEX idx_mcp_tools_is_enabled ON mcp_tools (is_enabled);

CREATE TABLE mcp_tool_executions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),

    user_id UUID NOT NULL,
    team_id UUID NOT NULL,
    tool_id UUID NOT NULL REFERENCES mcp_tools (id),
    server_id UUID NOT NULL REFERENCES mcp_servers (id),

    input_parameters JSONB NOT NULL,
    output_result JSONB,
    error_message TEXT,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'success', 'error', 'timeout')),

    started_at TIMESTAMPTZ DEFAULT now(),
    completed_at TIMESTAMPTZ,
    duration_ms INTEGER,

    chat_id UUID,
    message_id UUID,

    executed_at TIMESTAMPTZ DEFAULT now()
);
CREATE INDEX idx_mcp_executions_user_id ON mcp_tool_executions (user_id);
CREATE INDEX idx_mcp_executions_team_id ON mcp_tool_executions (team_id);
CREATE INDEX idx_mcp_executions_tool_id ON mcp_tool_executions (tool_id);
CREATE INDEX idx_mcp_executions_executed_at ON mcp_tool_executions (executed_at);
CREATE INDEX idx_mcp_executions_status ON mcp_tool_executions (status);

CREATE TABLE mcp_server_credentials (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    server_id UUID NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,

    credential_type TEXT NOT NULL CHECK (credential_type IN ('api_key', 'oauth_token', 'basic_auth', 'custom')),
    encrypted_value TEXT NOT NULL,

    created_at TIMESTAMPTZ DEFAULT now(),
    expires_at TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,

    CONSTRAINT unique_credential_per_server UNIQUE (server_id, credential_type)
);
