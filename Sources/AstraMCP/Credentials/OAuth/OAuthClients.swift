import Foundation
import Synchronization

/// The ``OAuthClient`` of each server that uses the client credentials grant, kept across its
/// sessions (and their restarts) so that they share one cached token. A server whose config
/// changes gets a new client; at most one is kept per server.
final class OAuthClients: Sendable {
    private let clients = Mutex<[UUID: (configJSON: String, client: OAuthClient)]>([:])

    init() {}

    /// The client of `server` as configured now; made by `make` when there is none yet.
    func client(for server: ServerDescriptor, make: () -> OAuthClient) -> OAuthClient {
        clients.withLock { clients in
            if let kept = clients[server.id], kept.configJSON == server.configJSON { return kept.client }
            let client = make()
            clients[server.id] = (server.configJSON, client)
            return client
        }
    }
}
