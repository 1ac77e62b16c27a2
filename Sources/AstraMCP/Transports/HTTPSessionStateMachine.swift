/// A Streamable HTTP session as a value: the `Mcp-Session-Id` requests carry, the negotiated
/// `MCP-Protocol-Version`, and who starts a new session after a 404 says the old one is gone.
struct HTTPSessionStateMachine: Equatable {
    enum State: Equatable {
        /// The server has not answered initialize: requests carry no session id.
        case uninitialized
        /// Requests carry `id` (nil: the server keeps no sessions).
        case active(id: String?)
        /// A 404 said session `expired` is gone: one request is initializing a new session and
        /// the others wait for it.
        case renewing(expired: String)
        /// The connection closed.
        case closed
    }

    /// What a request that got a 404 does.
    enum RenewalRole: Equatable {
        /// Initialize a new session, then report ``renewed(sessionID:)`` or ``renewalFailed()``.
        case renew
        /// Wait for the renewal under way.
        case wait
        /// The session was renewed already: just send the request again.
        case alreadyRenewed
    }

    private(set) var state: State = .uninitialized
    private(set) var protocolVersion: String?

    /// The id requests carry now (a renewal carries the expired one until it is done).
    var sessionID: String? {
        switch state {
        case .active(let id): id
        case .renewing(let expired): expired
        case .uninitialized, .closed: nil
        }
    }

    /// The server answered initialize, naming the session (or not). Only the first answer
    /// counts: a late echo must not bring back an expired session.
    mutating func initializeAnswered(sessionID: String?) {
        guard case .uninitialized = state else { return }
        state = .active(id: sessionID)
    }

    mutating func negotiated(protocolVersion version: String) {
        protocolVersion = version
    }

    /// A request carrying `expired` got a 404.
    mutating func sessionExpired(_ expired: String) -> RenewalRole {
        switch state {
        case .active(let id) where id == expired:
            state = .renewing(expired: expired)
            return .renew
        case .renewing(let renewing) where renewing == expired:
            return .wait
        default:
            return .alreadyRenewed
        }
    }

    mutating func renewed(sessionID: String) {
        guard case .renewing = state else { return }
        state = .active(id: sessionID)
    }

    /// The new session could not be had: requests keep the old id (the next 404 tries again).
    mutating func renewalFailed() {
        guard case .renewing(let expired) = state else { return }
        state = .active(id: expired)
    }

    mutating func close() {
        state = .closed
    }
}
