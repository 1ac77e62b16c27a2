import Foundation
import Logging
import PostgresNIO

/// `migrations/roles/roles.sql`: the daemon's and the backend's group roles, their grants, and
/// the seed's row-level security where the host has Supabase's schema. Not a numbered
/// migration (roles are cluster-wide and need CREATEROLE): an operator applies it with
/// `astra-mcpd migrate --roles`, or with psql. The file's header explains the model.
public struct RoleScript: Sendable {
    public static let defaultDaemonRole = "astra_mcpd"
    public static let defaultBackendRole = "astra_backend"
    /// Where it lives, relative to the migrations directory.
    public static let relativePath = "roles/roles.sql"

    public var sql: String

    public init(sql: String) {
        self.sql = sql
    }

    /// The file beside the migrations in `migrationsDirectory`.
    public static func load(migrationsDirectory: String) throws -> RoleScript {
        let path = URL(fileURLWithPath: migrationsDirectory).appendingPathComponent(relativePath).path
        guard FileManager.default.fileExists(atPath: path) else {
            throw MigrationError("cannot find \(path): it ships with the migrations, in their roles/ directory")
        }
        return RoleScript(sql: try String(contentsOfFile: path, encoding: .utf8))
    }

    /// The file beside the bundled migrations (see ``Migration/bundled(configuredDirectory:)``).
    public static func bundled(configuredDirectory: String? = nil) throws -> RoleScript {
        try load(migrationsDirectory: Migration.bundledDirectory(configuredDirectory: configuredDirectory))
    }

    /// What the run did about row-level security.
    public struct Outcome: Sendable, Equatable {
        /// `applied`, or `skipped: missing …` (the file's own words).
        public var rowLevelSecurity: String
    }

    /// Applies the file in one transaction, with the two roles' names (the settings
    /// `astra_mcpd.daemon_role` and `astra_mcpd.backend_role` it reads).
    @discardableResult
    public func apply(
        _ connection: PostgresConnection, daemonRole: String = defaultDaemonRole, backendRole: String = defaultBackendRole, logger: Logger
    ) async throws -> Outcome {
        func run(_ query: PostgresQuery) async throws -> [PostgresRow] {
            try await connection.query(query, logger: logger).collect()
        }
        do {
            _ = try await run("BEGIN")
            _ = try await run("SELECT set_config('astra_mcpd.daemon_role', \(daemonRole), true), set_config('astra_mcpd.backend_role', \(backendRole), true)")
            for statement in SQLScript.statements(sql) { _ = try await run(PostgresQuery(unsafeSQL: statement)) }
            let outcome = try await run("SELECT coalesce(current_setting('astra_mcpd.row_level_security', true), '')").first?.decode(String.self) ?? ""
            _ = try await run("COMMIT")
            return Outcome(rowLevelSecurity: outcome)
        } catch {
            _ = try? await run("ROLLBACK")
            let reason = (error as? PSQLError)?.serverInfo?[.message] ?? "\(error)"
            throw MigrationError("\(Self.relativePath) failed: \(reason)")
        }
    }
}
