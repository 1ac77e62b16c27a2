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

    /// The migrations that ship with this binary, from the first of these directories that
    /// exists: the configured `migrations_dir`; `../share/astra-mcpd/migrations` next to the
    /// executable; `/usr/local/share/astra-mcpd/migrations`; `/usr/share/astra-mcpd/migrations`;
    /// the source tree this binary was built from.
    public static func bundled(configuredDirectory: String? = nil) throws -> [Migration] {
        try load(from: URL(fileURLWithPath: bundledDirectory(configuredDirectory: configuredDirectory)))
    }

    /// The directory ``bundled(configuredDirectory:)`` reads, found as it says.
    public static func bundledDirectory(configuredDirectory: String? = nil) throws -> String {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let sourceTree = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("migrations").path
        let candidates = [
            configuredDirectory,
            URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("../share/astra-mcpd/migrations").standardized.path,
            "/usr/local/share/astra-mcpd/migrations",
            "/usr/share/astra-mcpd/migrations",
            sourceTree,
        ].compactMap { $0 }
        for directory in candidates where FileManager.default.fileExists(atPath: directory + "/0001_seed_tables.sql") {
            return directory
        }
        throw MigrationError("cannot find the migrations (looked in \(candidates.joined(separator: ", "))); set migrations_dir")
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
        try await run(
            "CREATE TABLE IF NOT EXISTS astra_mcpd_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
            on: connection)
        try await run("SELECT pg_advisory_lock(7238412001)", on: connection)
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
                    try await run("BEGIN", on: connection)
                    for statement in SQLScript.statements(migration.sql) { try await run(statement, on: connection) }
                    try await run(record, on: connection)
                    try await run("COMMIT", on: connection)
                } catch {
                    try? await run("ROLLBACK", on: connection)
                    let reason = (error as? PSQLError)?.serverInfo?[.message] ?? "\(error)"
                    throw MigrationError("migration \(migration.version)_\(migration.name) failed: \(reason)")
                }
                done.append(migration.version)
            }
            try await run("SELECT pg_advisory_unlock(7238412001)", on: connection)
            return done
        } catch {
            try? await run("SELECT pg_advisory_unlock(7238412001)", on: connection)
            throw error
        }
    }

    private func run(_ sql: String, on connection: PostgresConnection) async throws {
        _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).collect()
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
