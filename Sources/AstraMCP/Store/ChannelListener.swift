import Logging
import PostgresNIO
import ServiceLifecycle

/// Holds a LISTEN on one channel and hands every notification's payload to a callback.
///
/// Notifications sent while the connection is down are lost, so after every (re)connect the
/// callback is called once with `nil` to catch up; reconnects back off exponentially and every
/// failure is logged.
public struct ChannelListener: Service {
    /// New executions: one notification per INSERT statement (see the enqueue trigger).
    public static let pendingExecutions = "astra_mcpd_pending"
    /// A server row changed; the payload is its id.
    public static let serverChanges = "astra_mcpd_servers"

    let channel: String
    let database: PostgresClient
    let logger: Logger
    let onNotification: @Sendable (String?) -> Void

    /// - Parameter onNotification: Called with each payload, and with nil after (re)connecting.
    public init(channel: String, database: PostgresClient, logger: Logger, onNotification: @escaping @Sendable (String?) -> Void) {
        self.channel = channel
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
                        try await connection.listen(on: channel) { notifications in
                            if reconnected { logger.info("listening again", metadata: ["channel": "\(channel)"]) }
                            onNotification(nil)
                            for try await notification in notifications { onNotification(notification.payload) }
                        }
                    }
                }
                failures = 0
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { return }
                failures += 1
                let delay = Backoff.delay(failedAttempt: failures)
                logger.error(
                    "lost the LISTEN connection; reconnecting",
                    metadata: ["channel": "\(channel)", "error": "\(String(reflecting: error))", "retry_in": "\(delay)"])
                try? await Task.sleep(for: delay)
            }
        }
    }
}
