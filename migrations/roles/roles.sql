-- astra-mcpd: database roles, their grants, and the seed's row-level security.
--
-- Not a numbered migration: roles belong to the whole cluster, and creating them needs
-- CREATEROLE, which the role that runs `astra-mcpd migrate` need not have. (The migration
-- loader reads only `NNNN_name.sql` files at the top of migrations/; this subdirectory is not
-- one of them.) Run it after every `astra-mcpd migrate`, as the owner of the tables (the role
-- that migrated) with CREATEROLE, or as a superuser:
--
--     astra-mcpd migrate --roles [--daemon-role NAME] [--backend-role NAME]
--     psql -v ON_ERROR_STOP=1 -1 -f migrations/roles/roles.sql "$DATABASE_URL"
--
-- With psql, other role names come from the settings this file reads:
--     PGOPTIONS='-c astra_mcpd.daemon_role=mcpd -c astra_mcpd.backend_role=app' psql …
--
-- Running it again is safe, and is how grants follow a new release: every privilege of the
-- two roles on astra-mcpd's tables, sequences and functions is revoked and granted anew, in
-- one transaction. A table astra-mcpd's migrations add that this file does not know stops it
-- (update the file).
--
-- THE MODEL
--
-- Two group roles, NOLOGIN: a login role is granted into one of them, and its password stays
-- the operator's business:
--     CREATE ROLE mcpd_prod LOGIN PASSWORD '…' IN ROLE astra_mcpd;      -- the daemon
--     CREATE ROLE backend_prod LOGIN PASSWORD '…' IN ROLE astra_backend; -- a backend
-- (The login role must INHERIT, the default.)
--
-- astra_mcpd, the daemon: exactly what the statements in Sources/AstraMCP/Store/ use, every
-- command of astra-mcpd but `migrate` included (run, sync, credentials, callbacks). It
-- claims, leases, completes, retries and recovers executions; writes results, progress,
-- tasks and tool statistics; records server health, circuits and syncs; upserts the synced
-- tools; drains the two inboxes into mcp_server_credentials and mcp_team_callbacks (it holds
-- the key); delivers the callback outbox; deletes spent rate-limit counters. Column-level
-- UPDATE (and INSERT) grants name the
-- columns it writes, and no more; it never inserts executions, servers or tools, and deletes
-- executions only past execution_retention_days.
-- LISTEN, pg_notify and advisory locks need no privilege.
--
-- astra_backend, a backend:
--   may   INSERT executions (only the columns a request consists of), read every execution
--         and its attempts, cancel and confirm (astra_mcpd_cancel_execution,
--         astra_mcpd_confirm_execution, or their columns), manage servers and tools (their
--         configuration, not what the daemon records about them), write the two inboxes
--         (INSERT only: it cannot read a secret back), set its team's default callback URL,
--         see which credentials exist and delete one, read the rate limits;
--   never reads mcp_server_credentials.encrypted_value or mcp_team_callbacks.encrypted_secret;
--         writes an outcome, timing, progress, attempts or task column of an execution, or a
--         statistics, health, circuit or sync-schedule column of a tool or server; touches
--         the queue (mcp_execution_queue, mcp_awaiting_confirmation), the outbox
--         (mcp_callback_deliveries, mcp_callback_attempts) or the rate counters; changes a rate
--         limit (mcp_rate_limits is the operator's, written as the tables' owner).
-- What a backend's INSERT sets: the INSERT grant names request columns only (ids, team,
-- user, arguments, chat and message, priority, callback_url, confirmed_at/confirmed_by), so
-- naming `status`, `output_result`, `attempts` or `started_at` fails with "permission
-- denied", and the row takes its defaults: `pending`, no result, no attempts. Defaults are
-- not privilege-checked, so no trigger is needed to refuse a forged `success` (a role with
-- every privilege, the owner or Supabase's service_role, is trusted anyway, and a row it
-- inserts other than `pending` is never queued, so never run). Leases and
-- attempt counters live in mcp_execution_queue, which the backend cannot reach: the queue
-- row is made by the enqueue trigger from the row's server and priority alone. The triggers
-- that a backend's statements fire and that write tables the backend may not write are
-- SECURITY DEFINER with a fixed search_path (migrations/0015_definer_functions.sql).
--
-- ROW-LEVEL SECURITY (the seed's, where the host has Supabase's schema)
--
-- Where `auth.uid()` exists, a `users` table with `team_id` is on the search_path, and the
-- role `authenticated` exists, the seed's policies are applied, with the seed's names:
-- team members see their team's servers, tools and executions; users see their own
-- executions; admins (`users.role = 'admin'`, or the seed's
-- `raw_user_meta_data->>'role' = 'admin'`) manage their team's servers;
-- mcp_server_credentials has no policy for `authenticated`, only for `service_role`. The
-- policies run as the querying user, who must be able to read their own `users` row.
-- `anon` and `authenticated` lose every privilege Supabase's default grants gave them on
-- astra-mcpd's tables (the inboxes hold plaintext secrets; the queue and outbox are the
-- daemon's), and get back SELECT on the seed's three shared tables and the server columns an
-- admin manages. Elsewhere this step is skipped with a NOTICE saying so.
--
-- The daemon and the backend serve every team, so each has a policy `USING (true)` on the
-- tables with row-level security, rather than BYPASSRLS: a role attribute is not inherited
-- through membership (a login role granted into a BYPASSRLS group role still meets every
-- policy), granting it needs a superuser, and it would lift RLS on every table of the
-- database, the host's too. A policy is scoped to one table and follows membership. Their
-- grants still bound what each may do; the policies only decide which rows.
-- Row-level security is enabled on the seed's four tables only: the queue, outbox, inboxes
-- and attempts are closed to `anon` and `authenticated` by privileges alone. The definer
-- trigger functions run as the tables' owner, whom policies do not bind: never FORCE ROW
-- LEVEL SECURITY on these tables.

-- One run at a time per database (with psql, only within -1 / --single-transaction).
DO $lock$ BEGIN PERFORM pg_advisory_xact_lock(7238412002); END; $lock$;

-- The group roles. Roles are cluster-wide: another database's run may create them at the
-- same moment, so a concurrent creation counts as created.
DO $roles$
DECLARE
    daemon_role TEXT := coalesce(nullif(current_setting('astra_mcpd.daemon_role', true), ''), 'astra_mcpd');
    backend_role TEXT := coalesce(nullif(current_setting('astra_mcpd.backend_role', true), ''), 'astra_backend');
    name TEXT;
BEGIN
    IF daemon_role = backend_role THEN
        RAISE EXCEPTION 'the daemon''s and the backend''s roles must differ (both are %)', daemon_role;
    END IF;
    FOREACH name IN ARRAY ARRAY[daemon_role, backend_role] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = name AND (rolsuper OR rolbypassrls)) THEN
            RAISE EXCEPTION 'role % is a superuser or bypasses row-level security: it cannot be one of astra-mcpd''s roles', name;
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', name);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- created by a concurrent run
            END;
        END IF;
    END LOOP;
END;
$roles$;

-- The grants.
DO $grants$
DECLARE
    daemon_role TEXT := coalesce(nullif(current_setting('astra_mcpd.daemon_role', true), ''), 'astra_mcpd');
    backend_role TEXT := coalesce(nullif(current_setting('astra_mcpd.backend_role', true), ''), 'astra_backend');
    -- Every table of astra-mcpd's migrations.
    tables TEXT[] := ARRAY[
        'mcp_servers', 'mcp_tools', 'mcp_tool_executions', 'mcp_server_credentials',
        'mcp_execution_queue', 'mcp_execution_attempts', 'mcp_awaiting_confirmation',
        'mcp_server_credential_inbox', 'mcp_team_callbacks', 'mcp_team_callback_secret_inbox',
        'mcp_callback_deliveries', 'mcp_callback_attempts', 'mcp_rate_limits', 'mcp_rate_counters', 'mcp_daemon_instances', 'astra_mcpd_migrations',
        'mcp_analytics_top_tools', 'mcp_analytics_team_usage', 'mcp_analytics_daily', 'mcp_analytics_errors', 'mcp_analytics_user_activity'];
    functions TEXT[] := ARRAY['astra_mcpd_cancel_execution(uuid)', 'astra_mcpd_confirm_execution(uuid, uuid)'];
    unknown TEXT;
    item TEXT;
    schema_version INTEGER;
BEGIN
    IF to_regclass('astra_mcpd_migrations') IS NOT NULL THEN
        EXECUTE 'SELECT max(version) FROM astra_mcpd_migrations' INTO schema_version;
    END IF;
    IF coalesce(schema_version, 0) < 17 THEN
        RAISE EXCEPTION 'astra-mcpd''s schema is not here, or older than migration 17: run astra-mcpd migrate first (search_path: %)',
            current_setting('search_path');
    END IF;
    SELECT string_agg(c.relname, ', ' ORDER BY c.relname) INTO unknown
    FROM pg_class c
    WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
      AND (c.relname LIKE 'mcp\_%' OR c.relname LIKE 'astra\_mcpd\_%') AND c.relname <> ALL (tables);
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'roles.sql does not know the table(s) %: decide their grants in migrations/roles/roles.sql', unknown;
    END IF;

    -- Start from nothing, so a run after an upgrade leaves no stale privilege behind.
    FOREACH item IN ARRAY tables LOOP
        EXECUTE format('REVOKE ALL ON TABLE %I FROM %I, %I', item, daemon_role, backend_role);
    END LOOP;
    FOREACH item IN ARRAY functions LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM %I, %I', item, daemon_role, backend_role);
    END LOOP;
    FOREACH item IN ARRAY ARRAY[pg_get_serial_sequence('mcp_server_credential_inbox', 'id'),
                                pg_get_serial_sequence('mcp_team_callback_secret_inbox', 'id')] LOOP
        EXECUTE format('REVOKE ALL ON SEQUENCE %s FROM %I, %I', item, daemon_role, backend_role);
        EXECUTE format('GRANT USAGE ON SEQUENCE %s TO %I', item, backend_role);  -- the inboxes' ids
    END LOOP;

    -- %1$I is the daemon's role, %2$I the backend's.
    FOREACH item IN ARRAY ARRAY[
        format('GRANT CONNECT ON DATABASE %I TO %%1$I, %%2$I', current_database()),
        format('GRANT USAGE ON SCHEMA %I TO %%1$I, %%2$I', current_schema()),

        -- THE DAEMON
        -- The preflight: is the schema migrated?
        'GRANT SELECT ON astra_mcpd_migrations TO %1$I',
        -- Claims, outcomes, retries, hand-backs, recovery, progress, tasks, cancels, expiry.
        -- (SELECT … FOR UPDATE needs UPDATE on some column, which each of these has.)
        'GRANT SELECT, UPDATE (status, started_at, attempts, output_result, error_message, completed_at, duration_ms,
                               progress, progress_total, progress_message, progress_updated_at, task_id, task_status)
            ON mcp_tool_executions TO %1$I',
        -- Retention (execution_retention_days): finished executions past it; what hangs off them
        -- goes by ON DELETE CASCADE, which runs with the owner's rights.
        'GRANT DELETE ON mcp_tool_executions TO %1$I',
        -- The queue: rows come from the enqueue trigger; the daemon leases and removes them.
        'GRANT SELECT, DELETE, UPDATE (lease_owner, lease_token, lease_expires_at, attempt, available_at, last_error)
            ON mcp_execution_queue TO %1$I',
        'GRANT SELECT, INSERT (execution_id, attempt, error_message), UPDATE (error_message, ended_at)
            ON mcp_execution_attempts TO %1$I',
        -- The confirmation sweep (the settled trigger removes answered rows itself).
        'GRANT SELECT, DELETE ON mcp_awaiting_confirmation TO %1$I',
        -- Tool sync (upsert, disable what is gone) and statistics.
        'GRANT SELECT,
               INSERT (server_id, tool_name, title, description, input_schema, annotations, output_schema, execution, synced_at),
               UPDATE (title, description, input_schema, annotations, output_schema, execution, synced_at,
                       is_enabled, removed_at, enabled_before_removal,
                       execution_count, success_count, error_count, avg_duration_ms, last_executed_at)
            ON mcp_tools TO %1$I',
        -- Health checks, sync schedules, connection state, circuits, deactivation of the unhealthy.
        'GRANT SELECT,
               UPDATE (next_health_check_at, next_sync_at, sync_requested_at, last_health_check_at, last_synced_at,
                       connection_status, last_connected_at, last_error, failing_since, is_healthy,
                       is_active, deactivated_reason, circuit_state, circuit_changed_at, circuit_reason, circuit_open_until)
            ON mcp_servers TO %1$I',
        -- Credentials: decrypted for sessions, written from the inbox, re-encrypted by rotate.
        'GRANT SELECT, INSERT (server_id, credential_type, encrypted_value, expires_at),
               UPDATE (encrypted_value, expires_at, created_at, last_used_at)
            ON mcp_server_credentials TO %1$I',
        'GRANT SELECT, DELETE ON mcp_server_credential_inbox TO %1$I',
        'GRANT SELECT, DELETE ON mcp_team_callback_secret_inbox TO %1$I',
        'GRANT SELECT, INSERT (team_id, encrypted_secret), UPDATE (encrypted_secret, default_url, updated_at)
            ON mcp_team_callbacks TO %1$I',
        -- The outbox: rows come from the outcome's trigger; the daemon leases and records them.
        'GRANT SELECT, UPDATE (lease_owner, lease_expires_at, attempts, deadline_at, next_attempt_at,
                               delivered_at, failed_at, last_status_code, last_error)
            ON mcp_callback_deliveries TO %1$I',
        -- (ON CONFLICT (delivery_id, attempt) DO NOTHING reads the arbiter's columns.)
        'GRANT SELECT (delivery_id, attempt), INSERT (delivery_id, attempt, status_code, latency_ms, error)
            ON mcp_callback_attempts TO %1$I',

        -- Rate limits: the enqueue trigger counts; the daemon deletes the counters of ended windows.
        'GRANT SELECT, DELETE ON mcp_rate_counters TO %1$I',
        -- Each instance's heartbeat row (astra-mcpd status), and the sweep of instances long gone.
        'GRANT SELECT, INSERT, DELETE, UPDATE (heartbeat_at, in_flight, sessions) ON mcp_daemon_instances TO %1$I',

        -- THE BACKEND
        -- Requests in, outcomes out; cancel and confirm.
        'GRANT SELECT,
               INSERT (id, user_id, team_id, server_id, tool_id, input_parameters, chat_id, message_id,
                       priority, callback_url, confirmed_at, confirmed_by),
               UPDATE (cancel_requested_at, confirmed_at, confirmed_by)
            ON mcp_tool_executions TO %2$I',
        'GRANT EXECUTE ON FUNCTION astra_mcpd_cancel_execution(uuid) TO %2$I',
        'GRANT EXECUTE ON FUNCTION astra_mcpd_confirm_execution(uuid, uuid) TO %2$I',
        -- Each attempt's cause, read-only.
        'GRANT SELECT ON mcp_execution_attempts TO %2$I',
        -- Servers: their configuration, and asking for a sync.
        'GRANT SELECT, DELETE,
               INSERT (id, team_id, name, description, server_type, config, is_active, created_by),
               UPDATE (name, description, server_type, config, is_active, sync_requested_at, updated_at)
            ON mcp_servers TO %2$I',
        -- Tools: the operator settings (the rest comes from the sync).
        'GRANT SELECT, DELETE,
               INSERT (id, server_id, tool_name, description, input_schema,
                       is_enabled, requires_confirmation, timeout_seconds, max_attempts, is_idempotent, max_duration_seconds),
               UPDATE (is_enabled, requires_confirmation, timeout_seconds, max_attempts, is_idempotent, max_duration_seconds)
            ON mcp_tools TO %2$I',
        -- Rate limits are the operator's: a backend may show them, not change them.
        'GRANT SELECT ON mcp_rate_limits TO %2$I',
        -- Which daemons run (what astra-mcpd status shows).
        'GRANT SELECT ON mcp_daemon_instances TO %2$I',
        -- The seed's dashboards (security_invoker views: its own grants and row-level security apply).
        'GRANT SELECT ON mcp_analytics_top_tools, mcp_analytics_team_usage, mcp_analytics_daily, mcp_analytics_errors,
                         mcp_analytics_user_activity TO %2$I',
        -- Credentials: write-only inboxes; which credentials exist, never their value.
        'GRANT INSERT (server_id, credential_type, secret, expires_at) ON mcp_server_credential_inbox TO %2$I',
        'GRANT INSERT (team_id, secret) ON mcp_team_callback_secret_inbox TO %2$I',
        'GRANT SELECT (id, server_id, credential_type, created_at, expires_at, last_used_at), DELETE
            ON mcp_server_credentials TO %2$I',
        -- A team's default callback URL (INSERT … ON CONFLICT (team_id) DO UPDATE), not its secret.
        'GRANT SELECT (team_id, default_url, updated_at), INSERT (team_id, default_url), UPDATE (default_url, updated_at)
            ON mcp_team_callbacks TO %2$I'
    ] LOOP
        EXECUTE format(item, daemon_role, backend_role);
    END LOOP;
    PERFORM set_config('astra_mcpd.row_level_security', 'not applied', true);
END;
$grants$;

-- The seed's row-level security, where the host has Supabase's schema.
DO $rls$
DECLARE
    daemon_role TEXT := coalesce(nullif(current_setting('astra_mcpd.daemon_role', true), ''), 'astra_mcpd');
    backend_role TEXT := coalesce(nullif(current_setting('astra_mcpd.backend_role', true), ''), 'astra_backend');
    seed_tables TEXT[] := ARRAY['mcp_servers', 'mcp_tools', 'mcp_tool_executions', 'mcp_server_credentials'];
    all_tables TEXT[] := ARRAY[
        'mcp_servers', 'mcp_tools', 'mcp_tool_executions', 'mcp_server_credentials',
        'mcp_execution_queue', 'mcp_execution_attempts', 'mcp_awaiting_confirmation',
        'mcp_server_credential_inbox', 'mcp_team_callbacks', 'mcp_team_callback_secret_inbox',
        'mcp_callback_deliveries', 'mcp_callback_attempts', 'mcp_rate_limits', 'mcp_rate_counters', 'mcp_daemon_instances', 'astra_mcpd_migrations'];
    users_table REGCLASS := to_regclass('users');
    missing TEXT[] := ARRAY[]::TEXT[];
    is_admin TEXT;
    members TEXT;
    admins TEXT;
    item TEXT;
    client TEXT;
    quiet TEXT;
BEGIN
    IF to_regprocedure('auth.uid()') IS NULL THEN missing := missing || 'the function auth.uid()'::TEXT; END IF;
    IF users_table IS NULL OR NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = users_table AND attname = 'team_id' AND NOT attisdropped) THEN
        missing := missing || 'a users table with team_id'::TEXT;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN missing := missing || 'the role authenticated'::TEXT; END IF;
    IF cardinality(missing) > 0 THEN
        RAISE NOTICE 'astra-mcpd: row-level security policies skipped: this database has no Supabase schema (missing %)',
            array_to_string(missing, ', ');
        PERFORM set_config('astra_mcpd.row_level_security', 'skipped: missing ' || array_to_string(missing, ', '), true);
        RETURN;
    END IF;

    IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = users_table AND attname = 'role' AND NOT attisdropped) THEN
        is_admin := 'role = ''admin''';
    ELSIF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = users_table AND attname = 'raw_user_meta_data' AND NOT attisdropped) THEN
        is_admin := 'raw_user_meta_data->>''role'' = ''admin''';
    END IF;
    members := format('SELECT team_id FROM %s WHERE id = auth.uid()', users_table);
    -- Quiet the notices of DROP POLICY IF EXISTS (restored at the end).
    quiet := current_setting('client_min_messages');
    PERFORM set_config('client_min_messages', 'warning', true);
    admins := members || ' AND ' || is_admin;

    -- Supabase's default privileges give anon and authenticated everything on new tables of
    -- public: take it all back, then give authenticated what the policies below are about.
    FOREACH client IN ARRAY ARRAY['anon', 'authenticated'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = client) THEN
            FOREACH item IN ARRAY all_tables LOOP
                EXECUTE format('REVOKE ALL ON TABLE %I FROM %I', item, client);
            END LOOP;
        END IF;
    END LOOP;
    GRANT SELECT ON mcp_servers, mcp_tools, mcp_tool_executions TO authenticated;
    IF is_admin IS NOT NULL THEN
        GRANT DELETE, INSERT (team_id, name, description, server_type, config, is_active, created_by),
              UPDATE (name, description, server_type, config, is_active, sync_requested_at, updated_at)
            ON mcp_servers TO authenticated;
    END IF;

    FOREACH item IN ARRAY seed_tables LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', item);
        EXECUTE format('DROP POLICY IF EXISTS "astra-mcpd daemon: every team" ON %I', item);
        EXECUTE format('DROP POLICY IF EXISTS "astra-mcpd backend: every team" ON %I', item);
        EXECUTE format('CREATE POLICY "astra-mcpd daemon: every team" ON %I FOR ALL TO %I USING (true) WITH CHECK (true)', item, daemon_role);
        EXECUTE format('CREATE POLICY "astra-mcpd backend: every team" ON %I FOR ALL TO %I USING (true) WITH CHECK (true)', item, backend_role);
    END LOOP;

    DROP POLICY IF EXISTS "Team members can view their team's MCP servers" ON mcp_servers;
    EXECUTE format($p$CREATE POLICY "Team members can view their team's MCP servers" ON mcp_servers FOR SELECT TO authenticated
                      USING (team_id IN (%s))$p$, members);
    DROP POLICY IF EXISTS "Team admins can manage MCP servers" ON mcp_servers;
    IF is_admin IS NOT NULL THEN
        EXECUTE format($p$CREATE POLICY "Team admins can manage MCP servers" ON mcp_servers FOR ALL TO authenticated
                          USING (team_id IN (%s))$p$, admins);
    ELSE
        RAISE WARNING 'astra-mcpd: % has neither role nor raw_user_meta_data: no admin may manage servers through row-level security', users_table;
    END IF;

    DROP POLICY IF EXISTS "Team members can view tools from their team's servers" ON mcp_tools;
    EXECUTE format($p$CREATE POLICY "Team members can view tools from their team's servers" ON mcp_tools FOR SELECT TO authenticated
                      USING (server_id IN (SELECT id FROM mcp_servers WHERE team_id IN (%s)))$p$, members);

    DROP POLICY IF EXISTS "Team members can view their team's executions" ON mcp_tool_executions;
    EXECUTE format($p$CREATE POLICY "Team members can view their team's executions" ON mcp_tool_executions FOR SELECT TO authenticated
                      USING (team_id IN (%s))$p$, members);
    DROP POLICY IF EXISTS "Users can view their own executions" ON mcp_tool_executions;
    CREATE POLICY "Users can view their own executions" ON mcp_tool_executions FOR SELECT TO authenticated
        USING (user_id = auth.uid());

    -- Credentials: no policy for users; the service role only.
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON mcp_server_credentials TO service_role;
        DROP POLICY IF EXISTS "Service role manages credentials" ON mcp_server_credentials;
        CREATE POLICY "Service role manages credentials" ON mcp_server_credentials FOR ALL TO service_role USING (true) WITH CHECK (true);
    END IF;

    PERFORM set_config('client_min_messages', quiet, true);
    PERFORM set_config('astra_mcpd.row_level_security', 'applied', true);
END;
$rls$;
