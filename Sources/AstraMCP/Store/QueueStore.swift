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
            owner: workerID, limit: limit, leaseSeconds: Double(lease.components.seconds), saturatedServers: saturated)
        var claimed: [ClaimedExecution] = []
        claimed.reserveCapacity(limit)
        for try await row in try await database.execute(statement, logger: logger) { claimed.append(row) }
        return claimed
    }

    /// Writes outcomes. A result PostgreSQL refuses as jsonb (e.g. a `\u0000` escape) fails its
    /// whole batch, so then each row is written alone and a refused result becomes an error
    /// that says why — nothing is lost.
    func complete(_ outcomes: [ExecutionOutcome]) async throws {
        guard !outcomes.isEmpty else { return }
        do {
            try await write(outcomes)
        } catch let error as PSQLError where Self.isDataError(error) && outcomes.count > 1 {
            for outcome in outcomes { try await complete([outcome]) }
        } catch let error as PSQLError where Self.isDataError(error) {
            var replacement = outcomes[0]
            replacement.status = .error
            replacement.outputJSON = nil
            replacement.errorMessage = "the server's result could not be stored: \(error.serverInfo?[.message] ?? "invalid JSON")"
            try await write([replacement])
        }
    }

    private func write(_ outcomes: [ExecutionOutcome]) async throws {
        for try await _ in try await database.execute(CompleteExecutionsStatement(owner: workerID, outcomes: outcomes), logger: logger) {}
    }

    func retry(_ retries: [RetryRequest]) async throws {
        guard !retries.isEmpty else { return }
        for try await _ in try await database.execute(RetryExecutionsStatement(owner: workerID, retries: retries), logger: logger) {}
    }

    func release(_ ids: [UUID]) async throws {
        guard !ids.isEmpty else { return }
        for try await _ in try await database.execute(ReleaseExecutionsStatement(owner: workerID, ids: ids), logger: logger) {}
    }

    /// Extends the leases of every execution this worker holds.
    func renewLeases(_ lease: Duration) async throws {
        for try await _ in try await database.execute(
            RenewLeasesStatement(owner: workerID, leaseSeconds: Double(lease.components.seconds)), logger: logger) {}
    }

    /// Hands executions whose lease expired back to the queue; returns how many.
    func recoverExpiredLeases() async throws -> Int {
        var count: Int32 = 0
        for try await row in try await database.execute(RecoverExpiredLeasesStatement(owner: workerID), logger: logger) { count = row }
        return Int(count)
    }

    /// Class 22 (data exception): the data, not the connection, is at fault.
    static func isDataError(_ error: PSQLError) -> Bool {
        error.serverInfo?[.sqlState]?.hasPrefix("22") ?? false
    }
}
