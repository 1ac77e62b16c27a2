-- Claims and completions update every execution twice. When no index covers a column an
-- update changes and the page has room, PostgreSQL makes it a HOT update: no index is
-- written at all. The seed's index on `status` defeated that (every status change rewrote all
-- seven indexes of the table), so it goes: unfinished executions are found through
-- `mcp_execution_queue`, and analytics filter by team, tool or time, which stay indexed.
DROP INDEX idx_mcp_executions_status;

-- Leave room on each page for the two updates an execution gets.
ALTER TABLE mcp_tool_executions SET (fillfactor = 70);
