-- Trigger functions that write tables run as their owner (SECURITY DEFINER), with a fixed
-- search_path, so that a backend's role needs no privilege on the tables they write.
--
-- A backend's INSERT into mcp_tool_executions queues the row (mcp_execution_queue,
-- mcp_awaiting_confirmation), fills in its team's default callback URL (reading
-- mcp_team_callbacks, updating the row's callback_url) and takes its rate-limit slot
-- (mcp_rate_limits, mcp_rate_counters, through astra_mcpd_take_rate_slot, which then runs as
-- the definer too; it may end the row `rate_limited`); its confirmation or cancel of an
-- execution that waits moves it into the queue, or ends it and queues its callback
-- (mcp_callback_deliveries). The roles file (migrations/roles/roles.sql) gives the backend
-- no privilege on any of those tables: these three functions do that work for it, and only
-- that work. They take nothing from the caller but the rows of their own trigger.
--
-- Not changed, because they touch no table: the functions that only send a notification
-- (astra_mcpd_server_changed, astra_mcpd_credential_posted, astra_mcpd_circuit_changed,
-- astra_mcpd_credential_changed, astra_mcpd_cancel_requested; pg_notify needs no privilege),
-- and the BEFORE UPDATE functions that only assign to NEW (astra_mcpd_server_revision,
-- astra_mcpd_confirmation_answered, astra_mcpd_bump_schema_revision: what a trigger assigns
-- is not checked against the caller's column privileges). astra_mcpd_cancel_execution and astra_mcpd_confirm_execution
-- stay SECURITY INVOKER: they change only columns the caller may change itself.
--
-- search_path: this schema, then pg_temp last (pg_catalog is searched first implicitly), so
-- no object a caller creates can stand in for a table or function these bodies name.
-- EXECUTE is revoked from PUBLIC: a trigger function cannot be called directly anyway, and a
-- trigger fires whatever the privileges on its function. So it is on astra_mcpd_take_rate_slot,
-- which only the enqueue trigger calls (as the owner): nobody else takes a team's slots.
--
-- A later migration that replaces one of these functions (CREATE OR REPLACE) resets them to
-- SECURITY INVOKER and must repeat this.
DO $$
DECLARE
    fn TEXT;
BEGIN
    FOREACH fn IN ARRAY ARRAY['astra_mcpd_enqueue_executions()', 'astra_mcpd_queue_callback()', 'astra_mcpd_confirmation_settled()'] LOOP
        EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = %I, pg_temp', fn, current_schema());
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', fn);
    END LOOP;
    REVOKE EXECUTE ON FUNCTION astra_mcpd_take_rate_slot(UUID, UUID) FROM PUBLIC;
END;
$$;
