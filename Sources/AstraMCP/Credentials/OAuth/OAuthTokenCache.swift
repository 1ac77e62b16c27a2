/// A server's access token and when to replace it: a value-type state machine, with no I/O
/// and no clock of its own (`now` is passed in), driven by ``OAuthClient``.
///
/// States and transitions:
/// - `empty`: no token. `tokenNeeded` → `fetching(stale: nil)`, answering `.fetch`.
/// - `valid(token)`: `tokenNeeded` answers `.use` until the token's refresh time
///   (`expires_in` less a margin); between then and its expiry the first caller is told to
///   `.fetch` (→ `fetching(stale: token)`); after its expiry, → `fetching(stale: nil)`.
/// - `fetching(stale:)`: one caller fetches; the others `.use` the stale token while it has
///   not expired, else `.wait`. `fetched` → `valid`; `fetchFailed` → `valid(stale)` if it is
///   still usable, else `empty`.
/// - `rejected(token)` (the server answered 401 to it) and `invalidate()` (a wider scope is
///   needed) drop the token, whatever the state: a fetch under way stays under way.
struct OAuthTokenCache: Sendable {
    struct Token: Sendable, Equatable {
        var value: String
        /// When to get the next one (nil: the server gave no `expires_in`; only a 401 replaces it).
        var refreshAt: ContinuousClock.Instant?
        /// When it stops working (nil: unknown).
        var expiresAt: ContinuousClock.Instant?

        func isUsable(at now: ContinuousClock.Instant) -> Bool { expiresAt.map { now < $0 } ?? true }
        func isFresh(at now: ContinuousClock.Instant) -> Bool { refreshAt.map { now < $0 } ?? true }
    }

    private enum State: Sendable {
        case empty
        case fetching(stale: Token?)
        case valid(Token)
    }

    enum Action: Sendable, Equatable {
        /// Send this token.
        case use(String)
        /// Get a token, then report ``fetched(_:expiresIn:requestedAt:)`` or ``fetchFailed()``.
        case fetch
        /// Another caller is getting one: wait for it, then ask again.
        case wait
    }

    private var state = State.empty
    /// The most a token is replaced before its expiry. Defaults to `30` seconds.
    var maxRefreshMargin: Duration = .seconds(30)

    /// A token is refreshed this long before it expires: a fifth of its life, at most
    /// ``maxRefreshMargin`` (so a token of a few seconds is still used for most of them).
    func refreshMargin(lifetime: Duration) -> Duration { min(maxRefreshMargin, lifetime / 5) }

    mutating func tokenNeeded(now: ContinuousClock.Instant) -> Action {
        switch state {
        case .empty:
            state = .fetching(stale: nil)
            return .fetch
        case .valid(let token):
            if token.isFresh(at: now) { return .use(token.value) }
            state = .fetching(stale: token.isUsable(at: now) ? token : nil)
            return .fetch
        case .fetching(let stale):
            if let stale, stale.isUsable(at: now) { return .use(stale.value) }
            return .wait
        }
    }

    /// A fetch succeeded; `requestedAt` is when the request left (its life starts no later).
    mutating func fetched(_ value: String, expiresIn: Duration?, requestedAt: ContinuousClock.Instant) {
        state = .valid(
            Token(
                value: value, refreshAt: expiresIn.map { requestedAt + $0 - refreshMargin(lifetime: $0) },
                expiresAt: expiresIn.map { requestedAt + $0 }))
    }

    /// A fetch failed: a stale token still usable is kept, so one failed refresh does not stop
    /// calls before the token really expires; the next caller past its refresh time tries again.
    mutating func fetchFailed(now: ContinuousClock.Instant) {
        switch state {
        case .fetching(let stale?) where stale.isUsable(at: now):
            state = .valid(Token(value: stale.value, refreshAt: now, expiresAt: stale.expiresAt))
        case .empty, .valid, .fetching:
            state = .empty
        }
    }

    /// The server refused `token` (HTTP 401): it is not offered again.
    mutating func rejected(_ token: String) {
        switch state {
        case .valid(let current) where current.value == token:
            state = .empty
        case .fetching(let stale?) where stale.value == token:
            state = .fetching(stale: nil)
        case .empty, .valid, .fetching:
            break
        }
    }

    /// Drops the token (a request needs a scope it lacks).
    mutating func invalidate() {
        switch state {
        case .valid: state = .empty
        case .fetching: state = .fetching(stale: nil)
        case .empty: break
        }
    }

    /// The token now held, if any (for redaction and tests).
    var current: Token? {
        switch state {
        case .valid(let token): return token
        case .fetching(let stale): return stale
        case .empty: return nil
        }
    }
}
