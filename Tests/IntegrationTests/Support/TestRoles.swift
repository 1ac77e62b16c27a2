import Foundation
import Logging
import PostgresNIO
import Testing

@testable import AstraMCP

/// A test's own login roles, granted into astra-mcpd's group roles. The group roles are the
/// cluster's: every test applies `roles.sql` to its own database (creating them if need be,
/// concurrently with other tests), and its login roles have names of their own.
struct TestRoles: Sendable {
    let database: TestDatabase
    /// Member of the daemon's group role only.
    let daemonLogin: String
    /// Member of the backend's group role only.
    let backendLogin: String
    let password: String
    /// What the run of `roles.sql` said about row-level security.
    let rowLevelSecurity: String

    /// Applies `roles.sql` to `database` (as the superuser), creates the two login roles, runs
    /// `body`, and drops them.
    static func with<T: Sendable>(
        _ database: TestDatabase, daemonRole: String = RoleScript.defaultDaemonRole, backendRole: String = RoleScript.defaultBackendRole,
        _ body: (TestRoles) async throws -> T
    ) async throws -> T {
        let outcome = try await database.applyRoles(daemonRole: daemonRole, backendRole: backendRole)
        let suffix = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        let roles = TestRoles(
            database: database, daemonLogin: "mcpd_\(suffix)", backendLogin: "backend_\(suffix)", password: "pw\(suffix)",
            rowLevelSecurity: outcome.rowLevelSecurity)
        try await database.execute("CREATE ROLE \(roles.daemonLogin) LOGIN PASSWORD '\(roles.password)' IN ROLE \(daemonRole)")
        try await database.execute("CREATE ROLE \(roles.backendLogin) LOGIN PASSWORD '\(roles.password)' IN ROLE \(backendRole)")
        do {
            let result = try await body(roles)
            await roles.drop()
            return result
        } catch {
            await roles.drop()
            throw error
        }
    }

    private func drop() async {
        try? await database.execute("DROP ROLE IF EXISTS \(daemonLogin)")
        try? await database.execute("DROP ROLE IF EXISTS \(backendLogin)")
    }

    /// The test database, reached as the daemon's login role (never `with` it: it is not the owner).
    var asDaemon: TestDatabase { database.reached(as: daemonLogin, password: password) }

    /// One connection as the backend's login role.
    func backend<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await database.reached(as: backendLogin, password: password).withConnection(body)
    }
}

extension TestDatabase {
    /// Applies `migrations/roles/roles.sql` as the superuser.
    @discardableResult
    func applyRoles(daemonRole: String = RoleScript.defaultDaemonRole, backendRole: String = RoleScript.defaultBackendRole) async throws -> RoleScript.Outcome {
        let script = try RoleScript.bundled()
        return try await withConnection { connection in
            try await script.apply(connection, daemonRole: daemonRole, backendRole: backendRole, logger: TestLogging.logger)
        }
    }

    /// This database, connecting as `user`.
    func reached(as user: String, password: String) -> TestDatabase {
        var components = URLComponents(string: url)!
        components.user = user
        components.password = password
        return TestDatabase(name: name, url: components.string!, serverURL: serverURL)
    }
}

extension PostgresConnection {
    /// Runs `sql`; returns its rows.
    @discardableResult
    func run(_ sql: String) async throws -> [PostgresRow] {
        try await query(PostgresQuery(unsafeSQL: sql), logger: TestLogging.logger).collect()
    }

    /// The first column of the first row of `sql`.
    func value<T: PostgresDecodable & Sendable>(_ sql: String, as type: T.Type = T.self) async throws -> T {
        guard let row = try await run(sql).first else { throw DeadlineExceeded(description: "no row from \(sql)") }
        return try row.decode(T.self)
    }

    /// The SQLSTATE `sql` fails with, or nil when it succeeds.
    func failure(_ sql: String) async -> String? {
        do {
            try await run(sql)
            return nil
        } catch let error as PSQLError {
            return error.serverInfo?[.sqlState] ?? "\(error)"
        } catch {
            return "\(error)"
        }
    }

    /// Expects `sql` to fail with "permission denied" (or a row-level security violation: the same SQLSTATE, 42501).
    func expectDenied(_ sql: String, sourceLocation: SourceLocation = #_sourceLocation) async {
        let state = await failure(sql)
        #expect(state == "42501", "expected permission denied: \(sql)", sourceLocation: sourceLocation)
    }

    /// Expects `sql` to succeed.
    func expectAllowed(_ sql: String, sourceLocation: SourceLocation = #_sourceLocation) async {
        let state = await failure(sql)
        #expect(state == nil, "expected to be allowed (failed with \(state ?? "")): \(sql)", sourceLocation: sourceLocation)
    }
}

/// What a Supabase database has that the seed's policies use, standing in for it: the
/// `auth` schema with `auth.uid()` (from the JWT's `sub`, as Supabase reads it), a `users`
/// table with `team_id` and `role`, the API roles `anon`, `authenticated` and
/// `service_role`, and Supabase's default grants of everything in `public` to them.
enum SupabaseStandIn {
    static func install(on database: TestDatabase) async throws {
        for role in ["anon", "authenticated", "service_role"] {
            // Cluster-wide, and other tests create them at the same moment.
            try await database.execute(
                "DO $$ BEGIN CREATE ROLE \(role) NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$")
        }
        try await database.withConnection { connection in
            try await connection.run("CREATE SCHEMA auth")
            try await connection.run(
                "CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$")
            try await connection.run("CREATE TABLE users (id uuid PRIMARY KEY, team_id uuid NOT NULL, role text NOT NULL DEFAULT 'member')")
            try await connection.run("GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role")
            try await connection.run("GRANT ALL ON ALL TABLES IN SCHEMA public TO anon, authenticated, service_role")
            try await connection.run("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO anon, authenticated, service_role")
        }
    }

    /// Runs `sql` as the signed-in user `user` (role `authenticated`), in a transaction rolled back after.
    static func asUser(_ user: UUID, role: String = "authenticated", on connection: PostgresConnection, _ sql: String) async throws -> [PostgresRow] {
        try await connection.run("BEGIN")
        do {
            try await connection.run("SET LOCAL ROLE \(role)")
            try await connection.run("SELECT set_config('request.jwt.claim.sub', '\(user)', true)")
            let rows = try await connection.run(sql)
            try await connection.run("ROLLBACK")
            return rows
        } catch {
            _ = try? await connection.run("ROLLBACK")
            throw error
        }
    }

    /// The SQLSTATE `sql` fails with as `user`, or nil.
    static func failureAsUser(_ user: UUID, role: String = "authenticated", on connection: PostgresConnection, _ sql: String) async -> String? {
        do {
            _ = try await asUser(user, role: role, on: connection, sql)
            return nil
        } catch let error as PSQLError {
            return error.serverInfo?[.sqlState] ?? "\(error)"
        } catch {
            return "\(error)"
        }
    }

    /// The ids `sql` (selecting one uuid column) returns as `user`.
    static func ids(_ user: UUID, role: String = "authenticated", on connection: PostgresConnection, _ sql: String) async throws -> Set<UUID> {
        Set(try await asUser(user, role: role, on: connection, sql).map { try $0.decode(UUID.self) })
    }
}
