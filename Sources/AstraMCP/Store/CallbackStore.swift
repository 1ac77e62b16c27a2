import Foundation
import Logging
import PostgresNIO

/// The callback outbox's database side: claim due deliveries, record their attempts, and say
/// when the next one falls due. Each call is one round trip; the SQL is in
/// `CallbackStatements.swift`.
public struct CallbackStore: Sendable {
    /// The lease owner deliveries are claimed as.
    public let owner: String
    let runner: StatementRunner

    public init(database: PostgresClient, owner: String, logger: Logger, answerTimeout: Duration = .seconds(45), metrics: EngineMetrics = .disabled) {
        self.owner = owner
        runner = StatementRunner(database: database, logger: logger, answerTimeout: answerTimeout, metrics: metrics)
    }

    func claim(limit: Int, lease: Duration, deadline: Duration) async throws -> [ClaimedDelivery] {
        try await runner.rows(ClaimDeliveriesStatement(
            owner: owner, limit: limit, leaseSeconds: Backoff.milliseconds(lease) / 1000, deadlineSeconds: Backoff.milliseconds(deadline) / 1000))
    }

    func record(_ results: [DeliveryResult]) async throws {
        guard !results.isEmpty else { return }
        _ = try await runner.rows(RecordDeliveriesStatement(owner: owner, results: results))
    }

    /// How long until the next delivery falls due: zero if one is due, nil if none waits.
    func timeUntilNextDue() async throws -> Duration? {
        guard let seconds = try await runner.rows(NextDeliveryDueStatement()).first ?? nil else { return nil }
        return .milliseconds(Int64(max(seconds, 0) * 1000))
    }
}
