import Foundation
import Logging
import PostgresNIO

/// The queue's database side: claim, complete, release. Each is one round trip.
struct QueueStore: Sendable {
    let database: PostgresClient
    let workerID: String
    let logger: Logger

    func claim(limit: Int, lease: Duration, excludingServers saturated: [UUID]) async throws -> [ClaimedExecution] {
        let statement = ClaimExecutionsStatement(
            owner: workerID, limit: limit, leaseSeconds: Backoff.milliseconds(lease) / 1000, saturatedServers: saturated)
        var claimed: [ClaimedExecution] = []
        claimed.reserveCapacity(limit)
        for try await row in try await database.execute(statement, logger: logger) { claimed.append(row) }
        return claimed
    }

    /// Writes outcomes; returns how many were written (the rest were fenced off: their lease
    /// was taken over by another attempt).
    ///
    /// Whatever PostgreSQL refuses for one execution stays with that execution: its outcome is
    /// written as an `error` saying why (a result that is not valid jsonb, for example).
    /// Connection failures are thrown for the caller to retry.
    @discardableResult
    func complete(_ outcomes: [ExecutionOutcome]) async throws -> Int {
        try await confining(outcomes, write) { outcome, error in
            logger.error("the database refused an outcome; storing it as an error", metadata: [
                "execution": "\(outcome.id)", "error": "\(Self.reason(error))",
            ])
            var replacement = outcome
            replacement.status = .error
            replacement.outputJSON = nil
            for message in ["the outcome could not be stored: \(Self.reason(error))", "the outcome could not be stored"] {
                replacement.errorMessage = message
                do {
                    return try await write([replacement])
                } catch let error as PSQLError where Self.isRefusal(error) {
                    logger.critical("the database refused an error outcome too", metadata: [
                        "execution": "\(outcome.id)", "error": "\(Self.reason(error))",
                    ])
                }
            }
            return 0  // nothing more can be said: the lease expires and recovery ends it
        }
    }

    private func write(_ outcomes: [ExecutionOutcome]) async throws -> Int {
        var written: Int32 = 0
        for try await count in try await database.execute(CompleteExecutionsStatement(owner: workerID, outcomes: outcomes), logger: logger) {
            written = count
        }
        return Int(written)
    }

    /// Schedules retries. One the database refuses ends its execution as an `error` instead.
    func retry(_ retries: [RetryRequest]) async throws {
        _ = try await confining(retries, { batch in
            for try await _ in try await database.execute(RetryExecutionsStatement(owner: workerID, retries: batch), logger: logger) {}
            return batch.count
        }) { retry, error in
            try await complete([ExecutionOutcome(
                id: retry.id, attempt: retry.attempt, status: .error, outputJSON: nil,
                errorMessage: "\(retry.error); the retry could not be scheduled: \(Self.reason(error))",
                completedAt: Date(), durationMilliseconds: 0)])
        }
    }

    /// Hands executions back to the queue. One the database refuses keeps its lease, which
    /// expires: recovery then takes it over.
    func release(_ releases: [ReleaseRequest]) async throws {
        _ = try await confining(releases, { batch in
            for try await _ in try await database.execute(ReleaseExecutionsStatement(owner: workerID, releases: batch), logger: logger) {}
            return batch.count
        }) { release, error in
            logger.error("the database refused a hand-back; the lease will expire instead", metadata: [
                "execution": "\(release.id)", "error": "\(Self.reason(error))",
            ])
            return 0
        }
    }

    /// Writes `items` in one statement. When PostgreSQL refuses it, the batch is split in halves
    /// until each refused item stands alone, and `refused` decides what becomes of that one, so
    /// one bad item never holds up the others. A lost connection, a timeout or a lock conflict
    /// on a single item is thrown, for the caller to retry.
    private func confining<Item>(
        _ items: [Item], _ write: ([Item]) async throws -> Int, refused: (Item, PSQLError) async throws -> Int
    ) async throws -> Int {
        guard !items.isEmpty else { return 0 }
        do {
            return try await write(items)
        } catch let error as PSQLError where Self.isRefusal(error) || (Self.isServerError(error) && items.count > 1) {
            guard items.count == 1 else {
                let half = items.count / 2
                let first = try await confining(Array(items[..<half]), write, refused: refused)
                let second = try await confining(Array(items[half...]), write, refused: refused)
                return first + second
            }
            return try await refused(items[0], error)
        }
    }

    /// Extends the leases of the executions this worker runs.
    func renewLeases(_ lease: Duration, of executions: [UUID]) async throws {
        guard !executions.isEmpty else { return }
        for try await _ in try await database.execute(
            RenewLeasesStatement(owner: workerID, leaseSeconds: Backoff.milliseconds(lease) / 1000, executions: executions), logger: logger) {}
    }

    /// Takes over executions whose worker was lost (see ``RecoverExpiredLeasesStatement``).
    func recoverExpiredLeases(defaultMaxAttempts: Int) async throws -> (handedBack: Int, ended: Int) {
        var result = (handedBack: 0, ended: 0)
        for try await row in try await database.execute(
            RecoverExpiredLeasesStatement(defaultMaxAttempts: defaultMaxAttempts), logger: logger)
        {
            result = row
        }
        return result
    }

    /// Whether PostgreSQL answered with an error (the statement reached it), rather than the
    /// connection failing.
    static func isServerError(_ error: PSQLError) -> Bool {
        error.serverInfo?[.sqlState] != nil
    }

    /// Whether PostgreSQL refused the statement for what it carries, so sending it again cannot
    /// help: any server error but those of load, locks, timeouts and shutdown.
    static func isRefusal(_ error: PSQLError) -> Bool {
        guard let state = error.serverInfo?[.sqlState] else { return false }
        let transient = ["57014", "55P03", "40001", "40P01"]
        return !transient.contains(state) && !["08", "53", "57", "58"].contains(String(state.prefix(2)))
    }

    /// The database's own words for a refusal (never the statement's data).
    static func reason(_ error: PSQLError) -> String {
        let message = error.serverInfo?[.message] ?? "database error"
        return (error.serverInfo?[.sqlState]).map { "\(message) (SQLSTATE \($0))" } ?? message
    }
}
