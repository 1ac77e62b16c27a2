@testable import AstraMCPDemo
import Foundation
import Logging
import PostgresNIO

@testable import AstraMCP

/// One PostgreSQL server for the whole test process: `ASTRA_MCPD_TEST_DATABASE_URL` if set
/// (a superuser URL: the tests create databases), else a throwaway cluster started once and
/// removed when the test process exits.
enum TestCluster {
    private static let server = Task<String, any Error> {
        if let url = ProcessInfo.processInfo.environment["ASTRA_MCPD_TEST_DATABASE_URL"], !url.isEmpty { return url }
        let cluster = try await EphemeralPostgres.start(logger: TestLogging.logger)
        try removeWhenThisProcessExits(cluster)
        return cluster.url
    }

    /// The server's URL (its maintenance database).
    static func url() async throws -> String { try await server.value }

    /// Test processes end without a global tear-down hook, so a small watcher stops the
    /// cluster and deletes its files once this process is gone.
    private static func removeWhenThisProcessExits(_ cluster: EphemeralPostgres) throws {
        let stop = (cluster.runAs + ["\(cluster.binDirectory)/pg_ctl", "-D", "\(cluster.directory)/data", "-m", "immediate", "-w", "stop"])
            .map(shellQuoted).joined(separator: " ")
        let script = "while kill -0 \(getpid()) 2>/dev/null; do sleep 0.5; done; \(stop); rm -rf \(shellQuoted(cluster.directory))"
        let watcher = Process()
        watcher.executableURL = URL(fileURLWithPath: "/bin/sh")
        watcher.arguments = ["-c", script]
        watcher.standardInput = FileHandle.nullDevice
        watcher.standardOutput = FileHandle.nullDevice
        watcher.standardError = FileHandle.nullDevice
        try watcher.run()
    }

    private static func shellQuoted(_ word: String) -> String {
        "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

/// A database of its own for one test, migrated with the bundled migrations.
struct TestDatabase: Sendable {
    let name: String
    let url: String
    /// The server's maintenance database, where this one is created and dropped.
    let serverURL: String

    /// Creates and migrates a fresh database, runs `body`, and drops the database.
    static func with<T: Sendable>(migrated: Bool = true, _ body: (TestDatabase) async throws -> T) async throws -> T {
        let database = try await create(migrated: migrated)
        do {
            let result = try await body(database)
            await database.drop()
            return result
        } catch {
            await database.drop()
            throw error
        }
    }

    /// - Parameter serverURL: Another PostgreSQL server than the shared test cluster (a test
    ///   that restarts its server needs one of its own).
    static func create(migrated: Bool, on otherServer: String? = nil) async throws -> TestDatabase {
        let serverURL: String
        if let otherServer { serverURL = otherServer } else { serverURL = try await TestCluster.url() }
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        do {
            try await DatabaseURL(serverURL).withConnection(logger: TestLogging.logger) { connection in
                _ = try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: TestLogging.logger).collect()
            }
        } catch {
            throw TestDatabaseError(description: "CREATE DATABASE \(name): \(String(reflecting: error))")
        }
        guard var components = URLComponents(string: serverURL) else { throw DeadlineExceeded(description: "bad URL \(serverURL)") }
        components.path = "/" + name
        let database = TestDatabase(name: String(name), url: components.string!, serverURL: serverURL)
        if migrated {
            do {
                try await database.migrate()
            } catch {
                throw TestDatabaseError(description: "migrating \(name): \(String(reflecting: error))")
            }
        }
        return database
    }

    /// Applies the bundled migrations; returns the versions applied now.
    @discardableResult
    func migrate(_ migrations: [Migration]? = nil) async throws -> [Int] {
        let migrations = try migrations ?? Migration.bundled()
        return try await withConnection { connection in
            try await Migrator(migrations: migrations, logger: TestLogging.logger).migrate(connection)
        }
    }

    /// One connection to this database for the duration of `body`.
    func withConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await DatabaseURL(url).withConnection(logger: TestLogging.logger, body)
    }

    /// Runs statements that return nothing the test needs (a failure is PostgreSQL's
    /// `PSQLError`, which tests of constraints inspect).
    func execute(_ sql: String) async throws {
        try await withConnection { connection in
            _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: TestLogging.logger).collect()
        }
    }

    /// Drops the database, whoever is still connected.
    func drop() async {
        guard let server = try? DatabaseURL(serverURL) else { return }
        _ = try? await server.withConnection(logger: TestLogging.logger) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: TestLogging.logger).collect()
        }
    }
}

/// A backend's steps on a test database while no in-process daemon runs (the daemon under
/// test is a child process).
extension TestDatabase {
    /// Enqueues `count` executions of `tool` in one statement; returns their ids.
    func enqueueMany(_ tool: String, on server: ServerDescriptor, team: UUID, count: Int, argumentsSQL: String = "'{}'::jsonb") async throws -> [UUID] {
        let sql = TestDaemon.enqueueManySQL(tool, serverID: server.id, team: team, count: count, argumentsSQL: argumentsSQL)
        return try await withConnection { connection in
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: TestLogging.logger).collect().map { try $0.decode(UUID.self) }
        }
    }

    /// The executions' rows.
    func executions(_ ids: [UUID]) async throws -> [UUID: ExecutionRow] {
        try await withConnection { try await ExecutionRow.fetchAll(ids, from: $0, logger: TestLogging.logger) }
    }

    /// Waits until every execution is terminal; returns their rows.
    func waitUntilTerminal(_ ids: [UUID], within limit: Duration = .seconds(60), _ what: String) async throws -> [UUID: ExecutionRow] {
        try await eventually(limit, what) {
            try await executions(ids).values.allSatisfy { ["success", "error", "timeout", "cancelled", "rate_limited"].contains($0.status) }
        }
        return try await executions(ids)
    }
}

/// A database step of a test that failed, with PostgreSQL's own message (PSQLError's
/// description hides it).
struct TestDatabaseError: Error, CustomStringConvertible {
    var description: String
}
