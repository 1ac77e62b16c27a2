import Logging
import PostgresNIO
import ServiceLifecycle

/// Holds a LISTEN on `astra_mcpd_pending` and wakes the worker on every notification.
///
/// The enqueue trigger sends one notification per INSERT statement. When the connection
/// drops, notifications sent meanwhile are lost, so after every (re)connect the worker is woken
/// once to catch up; reconnects back off exponentially and every failure is logged.
public struct QueueListener: Service {
    public static let channel = "astra_mcpd_pending"

    let database: PostgresClient
    let logger: Logger
    let onNotification: @Sendable () -> Void

    public init(database: PostgresClient, logger: Logger, onNotification: @escaping @Sendable () -> Void) {
        self.database = database
        self.logger = logger
        self.onNotification = onNotification
    }

    public func run() async throws {
        var failures = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let reconnected = failures > 0
            do {
                try await cancelWhenGracefulShutdown {
                    try await database.withConnection { connection in
                        try await connection.listen(on: Self.channel) { notifications in
                            if reconnected { logger.info("listening for new executions again") }
                            onNotification()  // catch up on whatever arrived while we were not listening
                            for try await _ in notifications { onNotification() }
                        }
                    }
                }
                failures = 0
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { return }
                failures += 1
                let delay = Backoff.delay(failedAttempt: failures)
                logger.error("lost the LISTEN connection; reconnecting", metadata: ["error": "\(String(reflecting: error))", "retry_in": "\(delay)"])
                try? await Task.sleep(for: delay)
            }
        }
    }
}
