import Foundation
import PostgresNIO
import Testing

@testable import AstraMCP

/// A real daemon whose login role is only a member of `astra_mcpd`, serving a backend whose
/// login role is only a member of `astra_backend`: if the daemon lacked a privilege one of
/// its statements uses, the path it is on would fail here.
@Suite("A daemon and a backend with only their roles", .timeLimit(.minutes(3)))
struct RoleDaemonTests {
    @Test("the daemon runs the backend's executions end to end: results, statistics, health, sync, credentials, callbacks, tasks, confirmation, cancels, retries, rate limits, lease recovery, hand-back",
          arguments: [false, true])
    func endToEnd(supabase: Bool) async throws {
        let secret = WebhookSigner.generateSecret()
        let receiver = WebhookReceiver(secret: secret)
        try await receiver.start()
        defer { receiver.stop() }
        let tasks = TaskServer()
        try await tasks.start()
        defer { tasks.stop() }
        try await withCredentialKeys { keys in
            try await TestDatabase.with { db in
                if supabase { try await SupabaseStandIn.install(on: db) }
                try await TestRoles.with(db) { roles in
                    #expect(supabase ? roles.rowLevelSecurity == "applied" : roles.rowLevelSecurity.hasPrefix("skipped"), "\(roles.rowLevelSecurity)")
                    try await run(db, roles, keys: keys, secret: secret, receiver: receiver, tasks: tasks)
                }
            }
        }
    }

    func run(_ db: TestDatabase, _ roles: TestRoles, keys: String, secret: String, receiver: WebhookReceiver, tasks: TaskServer) async throws {
        let (team, user, limitedTeam) = (UUID(), UUID(), UUID())
        // The operator's rate limit for another team (one execution an hour), and a counter of a
        // window that ended an hour ago, for the daemon's sweep.
        try await db.withConnection { c in
            try await c.run("INSERT INTO mcp_rate_limits (team_id, scope, max_executions, window_seconds) VALUES ('\(limitedTeam)', 'team', 1, 3600)")
            try await c.run("""
                INSERT INTO mcp_rate_counters (team_id, user_id, window_seconds, window_start, window_end, executions)
                VALUES ('\(team)', '\(user)', 60, now() - interval '2 hours', now() - interval '2 hours' + interval '60 seconds', 5)
                """)
        }
        // The backend registers a server whose child needs a stored credential (inactive until
        // it is stored), posts that credential, the team's callback URL and signing secret, and
        // a server that cannot start with a tool of its own, and a Streamable HTTP server whose tools run as MCP tasks.
        let config = try TestDaemon.serverConfig(
            command: TestPaths.demoServer, args: [], env: [:], extra: ["env": ["DEMO_TOKEN": ["credential": "api_key"]] as [String: [String: String]]])
        let brokenConfig = try TestDaemon.serverConfig(command: "python3", args: ["-c", "import sys; sys.exit(3)"], env: [:])
        let (server, broken, taskServer) = try await roles.backend { c in
            let server = try await c.query(
                "INSERT INTO mcp_servers (team_id, name, server_type, config, is_active) VALUES (\(team), 'demo', 'stdio', \(config)::jsonb, false) RETURNING id",
                logger: TestLogging.logger
            ).collect()[0].decode(UUID.self)
            try await c.run("INSERT INTO mcp_server_credential_inbox (server_id, credential_type, secret) VALUES ('\(server)', 'api_key', 'token-of-the-demo')")
            _ = try await c.query(
                "INSERT INTO mcp_team_callbacks (team_id, default_url) VALUES (\(team), \(receiver.url)) ON CONFLICT (team_id) DO UPDATE SET default_url = EXCLUDED.default_url",
                logger: TestLogging.logger
            ).collect()
            _ = try await c.query("INSERT INTO mcp_team_callback_secret_inbox (team_id, secret) VALUES (\(team), \(secret))", logger: TestLogging.logger).collect()
            let broken = try await c.query(
                "INSERT INTO mcp_servers (team_id, name, server_type, config) VALUES (\(team), 'broken', 'stdio', \(brokenConfig)::jsonb) RETURNING id",
                logger: TestLogging.logger
            ).collect()[0].decode(UUID.self)
            try await c.run("INSERT INTO mcp_tools (server_id, tool_name, input_schema, max_attempts) VALUES ('\(broken)', 'nothing', '{\"type\": \"object\"}', 2)")
            let taskServer = try await c.query(
                "INSERT INTO mcp_servers (team_id, name, server_type, config) VALUES (\(team), 'tasks', 'http', \(#"{"url": "\#(tasks.url)"}"#)::jsonb) RETURNING id",
                logger: TestLogging.logger
            ).collect()[0].decode(UUID.self)
            // The limited team's server (inactive: its executions end at once) and tool; its second execution is over the limit.
            let limitedServer = try await c.query(
                "INSERT INTO mcp_servers (team_id, name, server_type, config, is_active) VALUES (\(limitedTeam), 'limited', 'stdio', '{}'::jsonb, false) RETURNING id",
                logger: TestLogging.logger
            ).collect()[0].decode(UUID.self)
            try await c.run("INSERT INTO mcp_tools (server_id, tool_name, input_schema) VALUES ('\(limitedServer)', 'x', '{\"type\": \"object\"}')")
            var statuses: [String] = []
            for _ in 1...2 {
                let id = try await c.value("""
                    INSERT INTO mcp_tool_executions (user_id, team_id, server_id, tool_id, input_parameters)
                    SELECT '\(user)', '\(limitedTeam)', '\(limitedServer)', id, '{}' FROM mcp_tools WHERE server_id = '\(limitedServer)' RETURNING id
                    """, as: UUID.self)
                statuses.append(try await c.value("SELECT status FROM mcp_tool_executions WHERE id = '\(id)'", as: String.self))
            }
            #expect(statuses == ["pending", "rate_limited"])
            return (server, broken, taskServer)
        }

        let handedBack = try await TestDaemon.with(roles.asDaemon, configure: { configuration in
            configuration.credentialKeysDirectory = keys
            configuration.syncOnStart = true
            configuration.healthCheckInterval = .seconds(2)
            configuration.retry.baseDelay = .milliseconds(50)
            configuration.retry.maxDelay = .milliseconds(200)
            configuration.callbackRetryBaseDelay = .milliseconds(50)
            configuration.callbackRetryMaxDelay = .milliseconds(200)
            configuration.shutdownGrace = .milliseconds(200)
        }) { daemon in
            // The daemon sweeps the spent rate counters.
            try await eventually(.seconds(30), "the spent rate counter to be deleted") {
                try await db.withConnection { c in
                    try await c.value("SELECT count(*)::int FROM mcp_rate_counters WHERE window_end < now()", as: Int.self)
                } == 0
            }
            // The daemon drains the inboxes: the credential is stored, encrypted.
            try await eventually(.seconds(30), "the credential to be stored") {
                try await roles.backend { c in
                    try await c.value("SELECT count(*)::int FROM mcp_server_credentials WHERE server_id = '\(server)' AND credential_type = 'api_key'", as: Int.self)
                } == 1
            }
            try await eventually(.seconds(30), "the team's signing secret to be stored") {
                try await db.withConnection { c in
                    try await c.value("SELECT count(*)::int FROM mcp_team_callbacks WHERE team_id = '\(team)' AND encrypted_secret IS NOT NULL", as: Int.self)
                } == 1
            }
            // Activated, the server is synced and checked.
            _ = try await roles.backend { c in
                try await c.run("UPDATE mcp_servers SET is_active = true, sync_requested_at = now() WHERE id = '\(server)'")
            }
            try await eventually(.seconds(60), "the demo server's tools to be synced") {
                try await roles.backend { c in
                    try await c.value("SELECT count(*)::int FROM mcp_tools WHERE server_id = '\(server)' AND tool_name IN ('echo', 'add', 'sleep', 'fail')", as: Int.self)
                } == 4
            }
            try await eventually(.seconds(60), "the task server's tools to be synced") {
                try await roles.backend { c in
                    try await c.value("SELECT count(*)::int FROM mcp_tools WHERE server_id = '\(taskServer)' AND tool_name = 'slow_job'", as: Int.self)
                } == 1
            }
            try await eventually(.seconds(30), "the demo server's health to be recorded") {
                try await roles.backend { c in
                    try await c.value(
                        "SELECT connection_status = 'connected' AND last_health_check_at IS NOT NULL AND last_synced_at IS NOT NULL FROM mcp_servers WHERE id = '\(server)'",
                        as: Bool.self)
                }
            }
            try await eventually(.seconds(30), "the broken server's failed check to be recorded") {
                try await roles.backend { c in
                    try await c.value("SELECT last_health_check_at IS NOT NULL AND last_error IS NOT NULL FROM mcp_servers WHERE id = '\(broken)'", as: Bool.self)
                }
            }

            // The backend's executions, and the operator's settings on two tools.
            func insert(_ c: PostgresConnection, _ tool: String, _ arguments: String, on serverID: UUID? = nil, count: Int = 1) async throws -> [UUID] {
                let serverID = serverID ?? server
                return try await c.run("""
                    INSERT INTO mcp_tool_executions (user_id, team_id, server_id, tool_id, input_parameters)
                    SELECT '\(user)', '\(team)', '\(serverID)', t.id, '\(arguments)'::jsonb FROM mcp_tools t, generate_series(1, \(count))
                    WHERE t.server_id = '\(serverID)' AND t.tool_name = '\(tool)' RETURNING id
                    """).map { try $0.decode(UUID.self) }
            }
            let (adds, confirmed, unconfirmed, long, failing, task) = try await roles.backend { c in
                try await c.run("UPDATE mcp_tools SET requires_confirmation = true WHERE server_id = '\(server)' AND tool_name = 'echo'")
                try await c.run("UPDATE mcp_tools SET is_idempotent = true WHERE server_id = '\(server)' AND tool_name = 'sleep'")
                try await c.run("UPDATE mcp_tools SET is_idempotent = false WHERE server_id = '\(server)' AND tool_name = 'fail'")
                let adds = try await insert(c, "add", #"{"a": 20, "b": 22}"#, count: 3)
                let confirmed = try await insert(c, "echo", #"{"text": "confirmed"}"#)[0]
                let unconfirmed = try await insert(c, "echo", #"{"text": "never"}"#)[0]
                let long = try await insert(c, "sleep", #"{"seconds": 60}"#)[0]
                let failing = try await insert(c, "nothing", "{}", on: broken)[0]
                let task = try await insert(c, "slow_job", #"{"seconds": 0.3}"#, on: taskServer)[0]
                #expect(try await c.value("SELECT astra_mcpd_confirm_execution('\(confirmed)', '\(user)')", as: Bool?.self) == true)
                return (adds, confirmed, unconfirmed, long, failing, task)
            }
            // Two executions whose worker died holding them (the lease expired a minute ago):
            // one of an idempotent tool (run again), one of a tool that is not (ended).
            // And one waiting out a retry's backoff for an hour, which the backend then cancels.
            let (lostAdd, lostFail, waiting) = (UUID(), UUID(), UUID())
            try await db.withConnection { c in
                try await c.run("BEGIN")
                try await c.run("""
                    INSERT INTO mcp_tool_executions (id, user_id, team_id, server_id, tool_id, input_parameters)
                    SELECT '\(waiting)', '\(user)', '\(team)', '\(server)', id, '{"a": 1, "b": 1}' FROM mcp_tools WHERE server_id = '\(server)' AND tool_name = 'add'
                    """)
                try await c.run("UPDATE mcp_execution_queue SET available_at = now() + interval '1 hour' WHERE execution_id = '\(waiting)'")
                for (id, tool, arguments) in [(lostAdd, "add", #"{"a": 1, "b": 2}"#), (lostFail, "fail", #"{"message": "x"}"#)] {
                    try await c.run("""
                        INSERT INTO mcp_tool_executions (id, user_id, team_id, server_id, tool_id, input_parameters, status, attempts)
                        SELECT '\(id)', '\(user)', '\(team)', '\(server)', id, '\(arguments)', 'pending', 1
                        FROM mcp_tools WHERE server_id = '\(server)' AND tool_name = '\(tool)'
                        """)
                    try await c.run(
                        "UPDATE mcp_execution_queue SET lease_owner = 'dead-worker', lease_token = gen_random_uuid(), lease_expires_at = now() - interval '1 minute', attempt = 1 WHERE execution_id = '\(id)'")
                    try await c.run("UPDATE mcp_tool_executions SET status = 'running' WHERE id = '\(id)'")
                }
                try await c.run("COMMIT")
                // The unconfirmed one has waited for two hours.
                try await c.run("UPDATE mcp_awaiting_confirmation SET since = now() - interval '2 hours' WHERE execution_id = '\(unconfirmed)'")
            }
            // The long call reports progress, and the backend cancels it.
            try await eventually(.seconds(30), "the long call's progress to be written") {
                try await roles.backend { c in
                    try await c.value("SELECT progress IS NOT NULL AND status = 'running' FROM mcp_tool_executions WHERE id = '\(long)'", as: Bool.self)
                }
            }
            try await roles.backend { c async throws in
                #expect(try await c.value("SELECT astra_mcpd_cancel_execution('\(long)')", as: Bool?.self) == true)
                #expect(try await c.value("SELECT astra_mcpd_cancel_execution('\(waiting)')", as: Bool?.self) == true)
            }

            let all = adds + [confirmed, unconfirmed, long, failing, task, lostAdd, lostFail, waiting]
            try await eventually(.seconds(60), "every execution to end") {
                try await roles.backend { c in
                    try await c.value(
                        "SELECT count(*)::int FROM mcp_tool_executions WHERE id = ANY('{\(all.map(\.uuidString).joined(separator: ","))}'::uuid[]) AND status IN ('success', 'error', 'timeout', 'cancelled')",
                        as: Int.self)
                } == all.count
            }

            // What the backend reads back.
            try await roles.backend { c in
                struct Row { var status: String; var text: String?; var error: String?; var duration: Int32?; var attempts: Int32 }
                var rows: [UUID: Row] = [:]
                for row in try await c.run("""
                    SELECT id, status, output_result->'content'->0->>'text', error_message, duration_ms, attempts FROM mcp_tool_executions
                    WHERE id = ANY('{\(all.map(\.uuidString).joined(separator: ","))}'::uuid[])
                    """) {
                    let (id, status, text, error, duration, attempts) = try row.decode((UUID, String, String?, String?, Int32?, Int32).self)
                    rows[id] = Row(status: status, text: text, error: error, duration: duration, attempts: attempts)
                }
                for id in adds {
                    #expect(rows[id]?.status == "success" && rows[id]?.text == "42" && rows[id]?.duration != nil && rows[id]?.attempts == 1, "\(String(describing: rows[id]))")
                }
                #expect(rows[confirmed]?.status == "success" && rows[confirmed]?.text == "confirmed", "\(String(describing: rows[confirmed]))")
                #expect(rows[unconfirmed]?.status == "error" && rows[unconfirmed]?.error?.contains("not confirmed within") == true, "\(String(describing: rows[unconfirmed]))")
                #expect(rows[long]?.status == "cancelled", "\(String(describing: rows[long]))")
                #expect(rows[failing]?.status == "error" && rows[failing]?.attempts == 2, "\(String(describing: rows[failing]))")
                #expect(try await c.value("SELECT count(*)::int FROM mcp_execution_attempts WHERE execution_id = '\(failing)'", as: Int.self) == 1)
                #expect(rows[task]?.status == "success" && rows[task]?.text == "job done after 0.3 s", "\(String(describing: rows[task]))")
                #expect(try await c.value("SELECT task_id IS NOT NULL AND task_status = 'completed' FROM mcp_tool_executions WHERE id = '\(task)'", as: Bool.self))
                #expect(rows[waiting]?.status == "cancelled" && rows[waiting]?.error == "cancelled before it was sent", "\(String(describing: rows[waiting]))")
                #expect(rows[lostAdd]?.status == "success" && rows[lostAdd]?.text == "3", "\(String(describing: rows[lostAdd]))")
                #expect(rows[lostFail]?.status == "error" && rows[lostFail]?.error?.contains("the worker was lost") == true, "\(String(describing: rows[lostFail]))")

                // Statistics: three adds and the recovered one; the lost, non-idempotent one counts as an error.
                let (count, successes, errors, average, executed) = try await c.run(
                    "SELECT execution_count, success_count, error_count, avg_duration_ms, last_executed_at IS NOT NULL FROM mcp_tools WHERE server_id = '\(server)' AND tool_name = 'add'"
                )[0].decode((Int64, Int64, Int64, Int32?, Bool).self)
                #expect(count == 4 && successes == 4 && errors == 0 && average != nil && executed)
                #expect(try await c.value("SELECT error_count FROM mcp_tools WHERE server_id = '\(server)' AND tool_name = 'fail'", as: Int64.self) == 1)
                // The child got its credential: the daemon decrypted it, and says when.
                #expect(try await c.value("SELECT last_used_at IS NOT NULL FROM mcp_server_credentials WHERE server_id = '\(server)'", as: Bool.self))
            }

            // Every finished execution of the team has a callback, delivered and verified.
            try await eventually(.seconds(60), "the callbacks to be delivered") {
                try await db.withConnection { c in
                    try await c.value("SELECT count(*) FILTER (WHERE delivered_at IS NOT NULL)::int FROM mcp_callback_deliveries WHERE team_id = '\(team)'", as: Int.self)
                } == all.count
            }
            #expect(receiver.rejected.isEmpty, "every signature verified: \(receiver.rejected)")
            #expect(receiver.deliveries.contains { ($0["body"] as? String)?.contains(adds[0].uuidString.lowercased()) == true })

            // The operator's commands, as the daemon's role: `credentials set`, `callbacks set-secret --url`, and
            // `credentials rotate` under a new key.
            let credentials = CredentialStore(database: daemon.database, keysDirectory: keys, logger: TestLogging.logger)
            #expect(try await credentials.serverID(nameOrID: "demo") == server)
            try await credentials.store(secret: "token-of-the-demo", serverID: server, credentialType: "api_key")
            try await credentials.storeCallbackSecret(secret, teamID: team, defaultURL: receiver.url)
            _ = try CredentialKeyring.generateKey(in: keys)
            #expect(try await credentials.rotate() == 2)
            #expect(try await credentials.secret(serverID: server, serverName: "demo", credentialType: "api_key").secret == "token-of-the-demo")
            // Still running when the daemon stops: handed back to the queue.
            let handedBack = try await roles.backend { c in try await insert(c, "sleep", #"{"seconds": 120}"#)[0] }
            try await eventually(.seconds(30), "the long call to run") {
                try await roles.backend { c in
                    try await c.value("SELECT status = 'running' FROM mcp_tool_executions WHERE id = '\(handedBack)'", as: Bool.self)
                }
            }
            return handedBack
        }
        // Stopped during a call to an idempotent tool: the execution went back to the queue, unleased.
        try await db.withConnection { c async throws in
            let (status, leased) = try await c.run("""
                SELECT e.status, q.lease_owner IS NOT NULL FROM mcp_tool_executions e JOIN mcp_execution_queue q ON q.execution_id = e.id
                WHERE e.id = '\(handedBack)'
                """)[0].decode((String, Bool).self)
            #expect(status == "pending" && !leased)
        }
        // The inboxes were emptied by the daemon.
        try await db.withConnection { c async throws in
            #expect(try await c.value("SELECT (SELECT count(*) FROM mcp_server_credential_inbox) + (SELECT count(*) FROM mcp_team_callback_secret_inbox)", as: Int64.self) == 0)
        }
    }
}
