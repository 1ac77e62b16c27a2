import Foundation
import Logging
import PostgresNIO

/// One schema migration: a numbered plain-SQL file from `migrations/`.
public struct Migration: Sendable, Equatable {
    public var version: Int
    public var name: String
    public var sql: String

    /// Loads `NNNN_name.sql` files from `directory`, ordered by number.
    public static func load(from directory: URL) throws -> [Migration] {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        var migrations: [Migration] = []
        for file in files where file.hasSuffix(".sql") {
            let stem = file.dropLast(4)
            guard let underscore = stem.firstIndex(of: "_"), let version = Int(stem[..<underscore]) else {
                throw MigrationError("migration file '\(file)' is not named NNNN_name.sql")
            }
            let sql = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            migrations.append(Migration(version: version, name: String(stem[stem.index(after: underscore)...]), sql: sql))
        }
        migrations.sort { $0.version < $1.version }
        for (a, b) in zip(migrations, migrations.dropFirst()) where a.version == b.version {
            throw MigrationError("two migrations have number \(a.version)")
        }
        return migrations
    }

    /// The migrations shipped with this binary.
    public static func bundled() throws -> [Migration] {
        guard let url = Bundle.module.url(forResource: "migrations", withExtension: nil) else {
            throw MigrationError("the migrations bundled with astra-mcpd are missing; pass --migrations-dir")
        }
        return try load(from: url)
    }
}

/// A migration could not be applied; the message says why.
public struct MigrationError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Applies migrations: each in its own transaction, recorded in `astra_mcpd_migrations`, under
/// an advisory lock so two daemons starting together do not race.
public struct Migrator: Sendable {
    public var migrations: [Migration]
    public var logger: Logger

    public init(migrations: [Migration], logger: Logger) {
        self.migrations = migrations
        self.logger = logger
    }

    /// Applies what is missing. Refuses to run when the database has a migration this binary
    /// does not know (it was migrated by a newer astra-mcpd).
    /// - Returns: The versions applied now (empty when the schema was up to date).
    @discardableResult
    public func migrate(_ connection: PostgresConnection) async throws -> [Int] {
        // The simple-query protocol runs a whole multi-statement file in one implicit transaction.
        _ = try await connection.simpleQuery("""
            CREATE TABLE IF NOT EXISTS astra_mcpd_migrations (
                version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
            """).get()
        _ = try await connection.simpleQuery("SELECT pg_advisory_lock(7238412001)").get()
        do {
            let applied = try await appliedVersions(connection)
            let known = Set(migrations.map(\.version))
            if let unknown = applied.subtracting(known).min() {
                throw MigrationError("the database has migration \(unknown), which this astra-mcpd does not know: it was migrated by a newer version; refusing to run")
            }
            var done: [Int] = []
            for migration in migrations where !applied.contains(migration.version) {
                logger.info("applying migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
                let record = "INSERT INTO astra_mcpd_migrations (version, name) VALUES (\(migration.version), '\(migration.name.replacingOccurrences(of: "'", with: "''"))')"
                do {
                    _ = try await connection.simpleQuery("BEGIN;\n\(migration.sql)\n;\n\(record);\nCOMMIT;").get()
                } catch {
                    _ = try? await connection.simpleQuery("ROLLBACK").get()
                    throw MigrationError("migration \(migration.version)_\(migration.name) failed: \(String(reflecting: error))")
                }
                done.append(migration.version)
            }
            _ = try await connection.simpleQuery("SELECT pg_advisory_unlock(7238412001)").get()
            return done
        } catch {
            _ = try? await connection.simpleQuery("SELECT pg_advisory_unlock(7238412001)").get()
            throw error
        }
    }

    /// Throws unless every migration this binary knows has been applied (and no other).
    public func checkUpToDate(_ connection: PostgresConnection) async throws {
        let exists = try await connection.query("SELECT to_regclass('astra_mcpd_migrations') IS NOT NULL", logger: logger)
            .collect().first?.decode(Bool.self) ?? false
        guard exists else { throw MigrationError("the database has no astra-mcpd schema yet: run 'astra-mcpd migrate' first") }
        let applied = try await appliedVersions(connection)
        let known = Set(migrations.map(\.version))
        if let unknown = applied.subtracting(known).min() {
            throw MigrationError("the database has migration \(unknown), which this astra-mcpd does not know: it was migrated by a newer version; refusing to run")
        }
        if let missing = known.subtracting(applied).min() {
            throw MigrationError("migration \(missing) has not been applied: run 'astra-mcpd migrate' first")
        }
    }

    private func appliedVersions(_ connection: PostgresConnection) async throws -> Set<Int> {
        var versions: Set<Int> = []
        for try await version in try await connection.query("SELECT version FROM astra_mcpd_migrations", logger: logger).decode(Int.self) {
            versions.insert(version)
        }
        return versions
    }
}
