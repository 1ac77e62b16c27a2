import Logging
import PostgresNIO

/// Runs the store's prepared statements: each one round trip, its rows collected, its answer
/// awaited at most `answerTimeout` (see ``abandoning(after:_:)``).
struct StatementRunner: Sendable {
    let database: PostgresClient
    let logger: Logger
    /// Beyond `statement_timeout`, so only a hung request meets it.
    var answerTimeout: Duration
    /// Where each round trip is counted.
    var metrics = EngineMetrics.disabled

    /// Runs `statement` and returns its rows only once its transaction has committed.
    ///
    /// PostgresNIO ends a statement's rows at CommandComplete, before the implicit transaction
    /// commits at Sync. A backend terminated in between (a PostgreSQL restart) rolls back a
    /// statement we were told had succeeded: a claim we would run, or an outcome we would
    /// forget, and either could run a call twice. A second statement on the same connection
    /// only runs once the first has committed, so its answer proves that commit. One more round
    /// trip, paid by the claim and the outcome write alone.
    func committedRows<Statement: PostgresPreparedStatement & Sendable>(_ statement: Statement) async throws -> [Statement.Row]
    where Statement.Row: Sendable {
        let (database, logger) = (self.database, self.logger)
        metrics.roundTrip(Statement.self)
        metrics.roundTrip(CommitProbeStatement.self)
        return try await abandoning(after: answerTimeout) {
            try await database.withConnection { connection in
                var rows: [Statement.Row] = []
                for try await row in try await connection.execute(statement, logger: logger) { rows.append(row) }
                try await Self.confirmCommit(on: connection, logger: logger)
                return rows
            }
        }
    }

    /// Proves that the last statement on `connection` committed (see ``committedRows(_:)``), or
    /// throws ``CommitUnconfirmed``.
    ///
    /// PostgreSQL terminating a backend right after its commit (a restart) sends the statement's
    /// rows and then closes the connection, and PostgresNIO (1.33) never answers a statement
    /// written to a closed connection: its write fails, and no one is told. The probe would wait
    /// out the answer timeout, longer than a lease, so the connection is looked at first. (One that
    /// closes just between still waits it out; the claim loop's unseen leases stay spared meanwhile.)
    static func confirmCommit(on connection: PostgresConnection, logger: Logger) async throws {
        guard !connection.isClosed else { throw CommitUnconfirmed() }
        _ = try await connection.execute(CommitProbeStatement(), logger: logger)
    }

    func rows<Statement: PostgresPreparedStatement & Sendable>(_ statement: Statement) async throws -> [Statement.Row]
    where Statement.Row: Sendable {
        let (database, logger) = (self.database, self.logger)
        metrics.roundTrip(Statement.self)
        return try await abandoning(after: answerTimeout) {
            var rows: [Statement.Row] = []
            for try await row in try await database.execute(statement, logger: logger) { rows.append(row) }
            return rows
        }
    }
}

/// The connection closed before a statement's commit could be confirmed: it may or may not have
/// committed.
struct CommitUnconfirmed: Error, CustomStringConvertible {
    var description: String { "the connection closed before the commit could be confirmed" }
}

/// The statement that proves the previous one on its connection committed (see
/// ``StatementRunner/committedRows(_:)``): prepared, and as cheap as a statement gets.
struct CommitProbeStatement: PostgresPreparedStatement {
    static let sql = "SELECT 1"
    typealias Row = ()

    func makeBindings() throws -> PostgresBindings { PostgresBindings() }

    func decodeRow(_ row: PostgresRow) throws {}
}
