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
                _ = try await connection.execute(CommitProbeStatement(), logger: logger)
                return rows
            }
        }
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

/// The statement that proves the previous one on its connection committed (see
/// ``StatementRunner/committedRows(_:)``): prepared, and as cheap as a statement gets.
struct CommitProbeStatement: PostgresPreparedStatement {
    static let sql = "SELECT 1"
    typealias Row = ()

    func makeBindings() throws -> PostgresBindings { PostgresBindings() }

    func decodeRow(_ row: PostgresRow) throws {}
}
