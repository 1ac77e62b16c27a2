-- The seed's dashboard queries, as views. Each reads a window of `executed_at` (indexed since
-- the seed's first migration), so on millions of executions it reads only that window's rows
-- (an index or bitmap scan), never the whole table. No index is added on `status` or
-- `completed_at`: both change when an execution ends, and indexing them would cost every outcome
-- write its HOT update (migration 0003). Rows carry `team_id`, so a dashboard filters by team,
-- and they are `security_invoker` views: row-level security (migrations/roles/roles.sql) applies
-- to whoever reads them, so a member's dashboard shows their team's rows only.

-- Most used tools, last 30 days.
CREATE VIEW mcp_analytics_top_tools WITH (security_invoker = true) AS
SELECT e.team_id, s.id AS server_id, s.name AS server_name, t.id AS tool_id, t.tool_name, t.description,
       count(*) AS execution_count,
       count(*) FILTER (WHERE e.status = 'success') AS success_count,
       count(*) FILTER (WHERE e.status = 'error') AS error_count,
       avg(e.duration_ms)::integer AS avg_duration_ms,
       round(count(*) FILTER (WHERE e.status = 'success')::numeric / count(*) * 100, 1) AS success_rate
FROM mcp_tool_executions e
JOIN mcp_tools t ON t.id = e.tool_id
JOIN mcp_servers s ON s.id = e.server_id
WHERE e.executed_at > now() - interval '30 days'
GROUP BY e.team_id, s.id, s.name, t.id, t.tool_name, t.description;

-- Usage by team, last 30 days. (The seed joins a `teams` table for names; the daemon's schema
-- has only team ids: join your own.)
CREATE VIEW mcp_analytics_team_usage WITH (security_invoker = true) AS
SELECT e.team_id,
       count(DISTINCT e.user_id) AS unique_users,
       count(*) AS total_executions,
       count(DISTINCT e.tool_id) AS unique_tools_used,
       avg(e.duration_ms)::integer AS avg_duration_ms
FROM mcp_tool_executions e
WHERE e.executed_at > now() - interval '30 days'
GROUP BY e.team_id;

-- Daily trends, last 30 days (days in UTC).
CREATE VIEW mcp_analytics_daily WITH (security_invoker = true) AS
SELECT e.team_id, (e.executed_at AT TIME ZONE 'UTC')::date AS date,
       count(*) AS total_executions,
       count(*) FILTER (WHERE e.status = 'success') AS successful,
       count(*) FILTER (WHERE e.status = 'error') AS failed,
       count(*) FILTER (WHERE e.status = 'timeout') AS timeouts,
       count(*) FILTER (WHERE e.status = 'rate_limited') AS rate_limited,
       avg(e.duration_ms)::integer AS avg_duration_ms
FROM mcp_tool_executions e
WHERE e.executed_at > now() - interval '30 days'
GROUP BY e.team_id, (e.executed_at AT TIME ZONE 'UTC')::date;

-- Errors, last 7 days, by tool, server and message.
CREATE VIEW mcp_analytics_errors WITH (security_invoker = true) AS
SELECT e.team_id, t.tool_name, s.name AS server_name, e.error_message,
       count(*) AS occurrence_count,
       max(e.executed_at) AS last_occurrence
FROM mcp_tool_executions e
JOIN mcp_tools t ON t.id = e.tool_id
JOIN mcp_servers s ON s.id = e.server_id
WHERE e.status IN ('error', 'timeout') AND e.executed_at > now() - interval '7 days'
GROUP BY e.team_id, t.tool_name, s.name, e.error_message;

-- User activity, last 7 days: with names and e-mail where Supabase's auth.users exists.
DO $$
BEGIN
    IF to_regclass('auth.users') IS NOT NULL THEN
        EXECUTE $view$
            CREATE VIEW mcp_analytics_user_activity WITH (security_invoker = true) AS
            SELECT e.team_id, e.user_id, u.email, u.raw_user_meta_data->>'full_name' AS full_name,
                   count(*) AS executions, count(DISTINCT e.tool_id) AS unique_tools, max(e.executed_at) AS last_execution
            FROM mcp_tool_executions e
            LEFT JOIN auth.users u ON u.id = e.user_id
            WHERE e.executed_at > now() - interval '7 days'
            GROUP BY e.team_id, e.user_id, u.email, u.raw_user_meta_data->>'full_name'
        $view$;
    ELSE
        EXECUTE $view$
            CREATE VIEW mcp_analytics_user_activity WITH (security_invoker = true) AS
            SELECT e.team_id, e.user_id, NULL::text AS email, NULL::text AS full_name,
                   count(*) AS executions, count(DISTINCT e.tool_id) AS unique_tools, max(e.executed_at) AS last_execution
            FROM mcp_tool_executions e
            WHERE e.executed_at > now() - interval '7 days'
            GROUP BY e.team_id, e.user_id
        $view$;
    END IF;
END;
$$;
