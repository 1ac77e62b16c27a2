-- MCP Tasks (spec 2025-11-25, experimental): a call to a tool that supports tasks, on a server
-- that declares `tasks.requests.tools.call`, is task-augmented. Its task id is stored on the
-- execution as soon as the server creates the task, so a daemon that crashed or restarted
-- resumes polling the same task instead of running the tool again.

-- The tool's `execution` object from tools/list (`taskSupport`: forbidden, optional, required).
ALTER TABLE mcp_tools ADD COLUMN execution JSONB;

-- The server's task for this execution, and its last known status (working, input_required,
-- completed, failed, cancelled).
ALTER TABLE mcp_tool_executions
    ADD COLUMN task_id TEXT,
    ADD COLUMN task_status TEXT;
