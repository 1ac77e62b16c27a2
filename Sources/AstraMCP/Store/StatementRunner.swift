import Logging
import PostgresNIO

/// Runs the store's prepared statements: each one round trip, its rows collected, its answer
/// awaited at most `answerTimeout` (see ``abandoning(after:_:)``).
struct StatementRunner: Sendable {
    let database: PostgresClient
    let logger: Logger
    /// Beyond `statement_timeout`, so only a hung request meets it.
    var answerTimeout: Duration

    func rows<Statement: PostgresPreparedStatement & Sendable>(_ statement: Statement) async throws -> [Statement.Row]
    where Statement.Row: Sendable {
        let (database, logger) = (self.database, self.logger)
        return try await abandoning(after: answerTimeout) {
            var rows: [Statement.Row] = []
            for try await row in try await database.execute(statement, logger: logger) { rows.append(row) }
            return rows
        }
    }
}
