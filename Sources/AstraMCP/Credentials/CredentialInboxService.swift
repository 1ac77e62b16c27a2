import Foundation
import Logging
import ServiceLifecycle

/// Empties `mcp_server_credential_inbox` as soon as a backend posts a secret: each one is
/// encrypted into `mcp_server_credentials` and its inbox row deleted, in one transaction.
/// Woken by the inbox's NOTIFY, and once at start for anything posted while the daemon was down.
public struct CredentialInboxService: Service {
    let store: CredentialStore
    let logger: Logger
    /// Called for each server whose credential changed (its session must pick up the new one).
    let onStored: @Sendable (UUID) -> Void
    private let posts: AsyncStream<Void>
    private let postsContinuation: AsyncStream<Void>.Continuation

    public init(store: CredentialStore, logger: Logger, onStored: @escaping @Sendable (UUID) -> Void) {
        self.store = store
        self.logger = logger
        self.onStored = onStored
        (posts, postsContinuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// The ``ChannelListener`` handler of ``ChannelListener/credentialInbox``: something was
    /// posted (or, after a reconnect, may have been).
    public func inboxPosted(_ payload: String?) {
        postsContinuation.yield()
    }

    public func run() async throws {
        for await _ in posts.cancelOnGracefulShutdown() {
            do {
                let servers = try await store.drainInbox()
                if !servers.isEmpty { logger.info("stored credentials from the inbox", metadata: ["count": "\(servers.count)"]) }
                for server in Set(servers) { onStored(server) }
            } catch {
                logger.error("could not store credentials from the inbox", metadata: ["error": "\(error)"])
            }
        }
    }
}
