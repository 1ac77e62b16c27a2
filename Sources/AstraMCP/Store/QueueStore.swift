import Foundation
import Logging
import PostgresNIO

/// The queue's database side: claim, complete, release. Each is one round trip.
public struct QueueStore: Sendable {
    /// The lease owner every claim and write is made as (a ``QueueWorker``'s instance id).
    public let workerID: String
    let runner: StatementRunner
    var logger: Logger { runner.logger }

    /// - Parameters:
    ///   - workerID: The lease owner, new for every process (see ``QueueWorker/instanceID(for:)``).
    ///   - answerTimeout: How long to wait for a statement's answer before giving up on it (it
    ///     is then repeated; every write is fenced). Beyond `statement_timeout`, so only a hung
    ///     request meets it.
    ///   - metrics: Where its round trips are counted.
    public init(database: PostgresClient, workerID: String, logger: Logger, answerTimeout: Duration = .seconds(45), metrics: EngineMetrics = .disabled) {
        self.workerID = workerID
        runner = StatementRunner(database: database, logger: logger, answerTimeout: answerTimeout, metrics: metrics)
    }

    /// Runs one statement and collects its rows, waiting at most the answer timeout.
    private func rows<Statement: PostgresPreparedStatement & Sendable>(_ statement: Statement) async throws -> [Statement.Row]
    where Statement.Row: Sendable {
        try await runner.rows(statement)
    }

    /// The rows of a statement whose commit is confirmed (see ``StatementRunner/committedRows(_:)``).
    private func committedRows<Statement: PostgresPreparedStatement & Sendable>(_ statement: Statement) async throws -> [Statement.Row]
    where Statement.Row: Sendable {
        try await runner.committedRows(statement)
    }

    func claim(limit: Int, lease: Duration, excludingServers saturated: [UUID]) async throws -> [ClaimedExecution] {
        let statement = ClaimExecutionsStatement(
            owner: workerID, limit: limit, leaseSeconds: Backoff.milliseconds(lease) / 1000, saturatedServers: saturated)
        // Run only what is surely claimed: a claim rolled back after its rows arrived would
        // leave the executions claimable again while they run.
        return try await committedRows(statement)
    }

    /// Writes outcomes; returns how many were written, and those to write again later (see
    /// ``confining(_:_:refused:)``); the rest were fenced off: their lease was taken over.
    ///
    /// Whatever PostgreSQL refuses for one execution stays with that execution: its outcome is
    /// written as an `error` saying why (a result that is not valid jsonb, for example).
    /// Connection failures are thrown for the caller to retry.
    @discardableResult
    func complete(_ outcomes: [ExecutionOutcome]) async throws -> (written: Int, later: [ExecutionOutcome]) {
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
        // Forget an outcome only once it is surely stored: one rolled back after its answer would
        // leave its lease behind, unheld, for the hand-back of a lost claim to release.
        Int(try await committedRows(CompleteExecutionsStatement(owner: workerID, outcomes: outcomes)).last ?? 0)
    }

    /// Schedules retries; returns those to schedule again later. One the database refuses ends
    /// its execution as an `error` instead.
    func retry(_ retries: [RetryRequest]) async throws -> [RetryRequest] {
        try await confining(retries, { batch in
            _ = try await rows(RetryExecutionsStatement(owner: workerID, retries: batch))
            return batch.count
        }) { retry, error in
            try await complete([ExecutionOutcome(
                id: retry.id, leaseToken: retry.leaseToken, status: .error, outputJSON: nil,
                errorMessage: "\(retry.error); the retry could not be scheduled: \(Self.reason(error))",
                completedAt: Date(), durationMilliseconds: 0)]).written
        }.later
    }

    /// Hands executions back to the queue; returns those to hand back again later. One the
    /// database refuses keeps its lease, which expires: recovery then takes it over.
    func release(_ releases: [ReleaseRequest]) async throws -> [ReleaseRequest] {
        try await confining(releases, { batch in
            _ = try await rows(ReleaseExecutionsStatement(owner: workerID, releases: batch))
            return batch.count
        }) { release, error in
            logger.error("the database refused a hand-back; the lease will expire instead", metadata: [
                "execution": "\(release.id)", "error": "\(Self.reason(error))",
            ])
            return 0
        }.later
    }

    /// Writes `items` in one statement. When PostgreSQL refuses it, the batch is split in halves
    /// until each refused item stands alone, and `refused` decides what becomes of that one, so
    /// one bad item never holds up the others. A single item that meets a passing server error
    /// (a lock a backend holds, a statement timeout) is returned in `later`, for the caller to
    /// write again after a while while the others go on. A lost connection is thrown.
    private func confining<Item>(
        _ items: [Item], _ write: ([Item]) async throws -> Int, refused: (Item, PSQLError) async throws -> Int
    ) async throws -> (written: Int, later: [Item]) {
        guard !items.isEmpty else { return (0, []) }
        do {
            return (try await write(items), [])
        } catch let error as PSQLError where Self.isServerError(error) {
            guard items.count == 1 else {
                let half = items.count / 2
                let first = try await confining(Array(items[..<half]), write, refused: refused)
                let second = try await confining(Array(items[half...]), write, refused: refused)
                return (first.written + second.written, first.later + second.later)
            }
            guard Self.isRefusal(error) else {
                logger.warning("the database could not take a write now; trying it again shortly", metadata: ["error": "\(Self.reason(error))"])
                return (0, items)
            }
            return (try await refused(items[0], error), [])
        }
    }

    /// Extends the leases of the executions this worker runs.
    /// Renews the leases held; returns those of executions the backend asked to cancel.
    func renewLeases(_ lease: Duration, of held: [HeldLease]) async throws -> [UUID] {
        guard !held.isEmpty else { return [] }
        return try await rows(RenewLeasesStatement(owner: workerID, leaseSeconds: Backoff.milliseconds(lease) / 1000, leases: held))
    }

    /// Ends as `cancelled` those of `ids` whose cancel was asked for and that nobody holds;
    /// returns how many.
    func cancelUnclaimed(_ ids: [UUID]) async throws -> Int {
        var ended = 0
        for batch in Self.batches(of: ids, limit: CancelUnclaimedStatement.batchLimit) {
            ended += Int(try await rows(CancelUnclaimedStatement(ids: batch)).first ?? 0)
        }
        return ended
    }

    /// `items` in consecutive pieces of at most `limit`: a statement whose NOTIFY names every row
    /// must stay under PostgreSQL's 8000-byte payload.
    static func batches<Item>(of items: [Item], limit: Int) -> [[Item]] {
        stride(from: 0, to: items.count, by: limit).map { Array(items[$0..<min($0 + limit, items.count)]) }
    }

    /// Ends the executions that waited longer than `timeout` for a confirmation; returns how many.
    func expireUnconfirmed(after timeout: Duration) async throws -> Int {
        Int(try await rows(ExpireUnconfirmedStatement(timeoutSeconds: Backoff.milliseconds(timeout) / 1000)).first ?? 0)
    }

    /// The input and output schemas of the tools `ids`, as JSON text, with their revision.
    func toolSchemas(_ ids: [UUID]) async throws -> [(id: UUID, revision: Int64, input: String, output: String?)] {
        try await rows(ToolSchemasStatement(ids: ids)).map { (id: $0.0, revision: $0.1, input: $0.2, output: $0.3) }
    }

    /// Deletes finished executions enqueued more than `days` days ago, in batches, at most ten
    /// per call so one sweep never holds on; returns how many went.
    func deleteExpiredExecutions(olderThanDays days: Int) async throws -> Int {
        var deleted = 0
        for _ in 0..<10 {
            let batch = Int(try await rows(DeleteExpiredExecutionsStatement(days: days)).first ?? 0)
            deleted += batch
            if batch < DeleteExpiredExecutionsStatement.batchLimit { break }
        }
        return deleted
    }

    /// Deletes the rate-limit counters of windows that have ended; returns how many.
    func deleteSpentRateCounters() async throws -> Int {
        Int(try await rows(DeleteSpentRateCountersStatement()).first ?? 0)
    }

    /// Stores the task the server created for a claimed execution, or its latest status.
    func recordTask(execution: UUID, leaseToken: UUID, taskID: String, status: String) async throws {
        _ = try await rows(RecordTaskStatement(execution: execution, leaseToken: leaseToken, taskID: taskID, status: status))
    }

    /// Writes the latest progress of running executions this worker holds, announced on
    /// `astra_mcpd_progress`.
    func recordProgress(_ reports: [ProgressReport]) async throws {
        for batch in Self.batches(of: reports, limit: RecordProgressStatement.batchLimit) {
            _ = try await rows(RecordProgressStatement(owner: workerID, reports: batch))
        }
    }

    /// Hands back leases this worker has in the database but does not hold (after a claim whose
    /// answer was lost); returns how many.
    func releaseUnheldLeases(holding held: [HeldLease]) async throws -> Int {
        Int(try await rows(ReleaseUnheldLeasesStatement(owner: workerID, heldLeases: held.map(\.token))).last ?? 0)
    }

    /// Takes over executions whose worker was lost (see ``RecoverExpiredLeasesStatement``).
    /// Runs in batches until a batch is not full.
    /// - Parameter sparingOwn: Leaves every lease of this worker alone, not only those `held`:
    ///   while a claim of its own is unsettled, it may have leases it does not know of yet.
    func recoverExpiredLeases(defaultMaxAttempts: Int, holding held: [HeldLease], sparingOwn: Bool = false) async throws -> (handedBack: Int, ended: Int) {
        var total = (handedBack: 0, ended: 0)
        while true {
            let batch = try await rows(
                RecoverExpiredLeasesStatement(
                    defaultMaxAttempts: defaultMaxAttempts, heldLeases: held.map(\.token), sparedOwner: sparingOwn ? workerID : nil)
            ).last ?? (0, 0)
            total.handedBack += batch.handedBack
            total.ended += batch.ended
            if batch.handedBack + batch.ended < RecoverExpiredLeasesStatement.batchLimit { return total }
        }
    }

    /// Whether PostgreSQL answered with an error (the statement reached it), rather than the
    /// connection failing.
    static func isServerError(_ error: PSQLError) -> Bool {
        error.serverInfo?[.sqlState] != nil
    }

    /// Whether PostgreSQL refused the statement for what it carries, so sending it again cannot
    /// help.
    static func isRefusal(_ error: PSQLError) -> Bool {
        // Data exceptions (22: invalid JSON, text, numbers), integrity (23) and program limits
        // (54: too large). Everything else (a lock, a timeout, a failover's read-only standby,
        // a replanned statement) may pass on another try.
        guard let state = error.serverInfo?[.sqlState] else { return false }
        return ["22", "23", "54"].contains(String(state.prefix(2)))
    }

    /// The database's own words when `error` is a refusal (see ``isRefusal(_:)``), else nil.
    static func refusal(_ error: any Error) -> String? {
        guard let error = error as? PSQLError, isRefusal(error) else { return nil }
        return reason(error)
    }

    /// The database's own words for a refusal (never the statement's data).
    static func reason(_ error: PSQLError) -> String {
        let message = error.serverInfo?[.message] ?? "database error"
        return (error.serverInfo?[.sqlState]).map { "\(message) (SQLSTATE \($0))" } ?? message
    }
}
