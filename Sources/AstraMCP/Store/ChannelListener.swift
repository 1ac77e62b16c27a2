import Logging
import PostgresNIO
import ServiceLifecycle

/// Holds the daemon's LISTENs — every channel on one PostgreSQL connection — and hands each
/// notification's payload to its channel's handler.
///
/// Notifications sent while the connection is down are lost, so after every (re)connect each
/// handler is called once with `nil` to catch up; reconnects back off exponentially and every
/// failure is logged.
public struct ChannelListener: Service {
    /// Called with each payload, and with nil after (re)connecting.
    public typealias Handler = @Sendable (_ payload: String?) -> Void

    /// New executions: one notification per INSERT statement (see the enqueue trigger).
    public static let pendingExecutions = "astra_mcpd_pending"
    /// A server row changed; the payload is its id, or `credentials:<id>` when its stored
    /// credential changed.
    public static let serverChanges = "astra_mcpd_servers"
    /// A daemon recorded a server's circuit state; the payload is the server's id.
    public static let circuitChanges = "astra_mcpd_circuits"
    /// The backend asked to cancel an execution; the payload is its id.
    public static let cancelRequests = "astra_mcpd_cancel"
    /// An outcome queued a callback delivery.
    public static let callbacks = "astra_mcpd_callbacks"
    /// A backend posted a secret to the credential inbox.
    public static let credentialInbox = "astra_mcpd_credentials"

    let handlers: [String: Handler]
    let database: PostgresClient
    let logger: Logger

    /// - Parameter handlers: Each channel's handler.
    public init(database: PostgresClient, logger: Logger, handlers: [String: Handler]) {
        self.handlers = handlers
        self.database = database
        self.logger = logger
    }

    public func run() async throws {
        var failures = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let reconnected = failures > 0
            do {
                try await cancelWhenGracefulShutdown {
                    try await database.withConnection { connection in
                        try await withThrowingTaskGroup { group in
                            for (channel, handler) in handlers {
                                group.addTask {
                                    try await connection.listen(on: channel) { notifications in
                                        if reconnected { logger.info("listening again", metadata: ["channel": "\(channel)"]) }
                                        handler(nil)
                                        for try await notification in notifications { handler(notification.payload) }
                                    }
                                }
                            }
                            // One LISTEN ending means the connection is gone: start them all again.
                            try await group.next()
                            group.cancelAll()
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
                    metadata: ["channels": "\(handlers.keys.sorted().joined(separator: ","))", "error": "\(String(reflecting: error))", "retry_in": "\(delay)"])
                try? await Task.sleep(for: delay)
            }
        }
    }
}
