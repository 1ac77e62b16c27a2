import Foundation
import Logging
import Synchronization

/// Gets and keeps the access tokens of one server that uses the OAuth 2.1 client credentials
/// grant; shared by all the server's sessions, so that they share one token.
///
/// Discovery runs on the server's first 401 (or at once, when the config names the
/// authorization server or token endpoint); then a token is fetched, cached
/// (``OAuthTokenCache``), replaced before it expires and after a 401. One fetch runs at a
/// time: callers that need a token meanwhile wait for it; it runs to its end even when every
/// caller has gone. Tokens live only in memory.
final class OAuthClient: Sendable {
    /// What the client is for.
    struct Target: Sendable {
        var serverName: String
        var serverURL: String
        var config: OAuthClientCredentialsConfig
    }

    /// What discovery found (or the config said).
    private struct Endpoint: Sendable {
        var tokenEndpoint: String
        var authMethod: OAuthClientCredentialsConfig.AuthMethod
        var scopesSupported: [String]
    }

    /// One fetch: its waiters wake when it ends and read how it went (no failure: ask again).
    private final class Fetch: Sendable {
        let done = AsyncEvent()
        let failure = Mutex<MCPSessionError?>(nil)
    }

    private struct State: Sendable {
        var cache = OAuthTokenCache()
        var fetch: Fetch?
        var endpoint: Endpoint?
        /// The last challenge's `resource_metadata` and `scope`.
        var challengeURL: String?
        var challengeScope: String?
        /// Whether the server has said (a 401) that it wants a token.
        var challenged = false
        /// Scopes requests were refused for (403 insufficient_scope), added to the next tokens'.
        var stepUpScopes: [String] = []
        /// Bumped whenever a token obtained before no longer does (a wider scope is needed):
        /// a fetch that started before the bump does not count.
        var generation = 0
        /// Recent tokens and the client secret: what error messages must never show.
        var secrets: [String] = []
    }

    let target: Target
    /// How many times a request refused for its scope is sent again with a new token.
    let maxScopeStepUps: Int
    private let http: OAuthHTTP
    private let credential: @Sendable (String) async throws -> String
    private let logger: Logger
    private let now: @Sendable () -> ContinuousClock.Instant
    private let state: Mutex<State>

    /// - Parameters:
    ///   - credential: Reads the server's stored secret of a `credential_type` (the client
    ///     secret or private key), decrypted; read at each fetch, so a replaced one is used.
    ///   - maxScopeStepUps: Defaults to `2`.
    init(
        target: Target, http: OAuthHTTP, credential: @escaping @Sendable (String) async throws -> String, logger: Logger,
        maxScopeStepUps: Int = 2, maxRefreshMargin: Duration = .seconds(30), now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.target = target
        self.http = http
        self.credential = credential
        self.logger = logger
        self.maxScopeStepUps = maxScopeStepUps
        self.now = now
        var state = State()
        state.cache.maxRefreshMargin = maxRefreshMargin
        self.state = Mutex(state)
    }

    /// What to keep out of every message: recent tokens and the client secret.
    var secrets: [String] { state.withLock { $0.secrets } }

    /// The access token to send; nil before the server has asked for one (its first 401) when
    /// the config names neither a token endpoint nor an authorization server.
    ///
    /// A fetch is the client's, not its caller's: a caller stopped meanwhile (its session
    /// stopped while starting, a timeout) stops waiting, but the fetch runs to its end and
    /// caches its token for the next caller, so a token the authorization server issued is
    /// not thrown away and asked for again.
    func accessToken() async throws(MCPSessionError) -> String? {
        while true {
            enum Step { case send(String?), wait(Fetch), fetch(Fetch, generation: Int) }
            let step: Step = state.withLock { state in
                if !state.challenged, state.endpoint == nil, target.config.tokenEndpoint == nil, target.config.authorizationServer == nil {
                    return .send(nil)
                }
                switch state.cache.tokenNeeded(now: now()) {
                case .use(let token): return .send(token)
                case .wait: return .wait(state.fetch!)
                case .fetch:
                    let fetch = Fetch()
                    state.fetch = fetch
                    return .fetch(fetch, generation: state.generation)
                }
            }
            let fetch: Fetch
            switch step {
            case .send(let token):
                return token
            case .wait(let running):
                fetch = running
            case .fetch(let new, let generation):
                // Not a child of this caller's task, so its cancellation does not reach it.
                Task { await self.run(new, generation: generation) }
                fetch = new
            }
            await fetch.done.wait()
            if let failure = fetch.failure.withLock({ $0 }) { throw failure }
            guard fetch.done.isSignalled else {
                throw MCPSessionError(
                    .cancelled, "stopped while waiting for an OAuth access token of server '\(target.serverName)'", requestNeverSent: true)
            }
        }
    }

    /// Runs one fetch to its end: its token cached, or its failure kept for its waiters.
    private func run(_ fetch: Fetch, generation: Int) async {
        let requestedAt = now()
        do throws(MCPSessionError) {
            let token = try await obtainToken()
            state.withLock { state in
                state.secrets = Array((state.secrets + [token.accessToken]).suffix(8))
                state.cache.fetched(token.accessToken, expiresIn: token.expiresIn, requestedAt: requestedAt)
                // Asked for before a wider scope was needed: it will not do.
                if state.generation != generation { state.cache.invalidate() }
                state.fetch = nil
            }
        } catch {
            state.withLock { state in
                state.cache.fetchFailed(now: now())
                state.fetch = nil
            }
            fetch.failure.withLock { $0 = error }
        }
        fetch.done.signal()
    }

    /// The server answered 401 to `token` (nil: sent without one): the token is dropped, and
    /// what the challenge says is kept for the next fetch (discovery starts from it).
    func unauthorized(token: String?, challenge: BearerChallenge?) {
        state.withLock { state in
            state.challenged = true
            if let url = challenge?.resourceMetadata { state.challengeURL = url }
            if let scope = challenge?.scope { state.challengeScope = scope }
            if let token { state.cache.rejected(token) }
        }
    }

    /// The server refused `token` for its scope (403 `insufficient_scope`): the next token is
    /// asked for with the scope the challenge names as well.
    func insufficientScope(token: String?, challenge: BearerChallenge) {
        state.withLock { state in
            for scope in Self.scopes(challenge.scope) where !state.stepUpScopes.contains(scope) { state.stepUpScopes.append(scope) }
            state.generation += 1
            state.cache.invalidate()
        }
    }

    /// The scope to ask for: the config's, else the last challenge's, else all the protected
    /// resource's `scopes_supported`; with every scope a refusal asked for added.
    private func scope(_ state: State, supported: [String]) -> String? {
        var scopes = Self.scopes(target.config.scope ?? state.challengeScope ?? supported.joined(separator: " "))
        for scope in state.stepUpScopes where !scopes.contains(scope) { scopes.append(scope) }
        return scopes.isEmpty ? nil : scopes.joined(separator: " ")
    }

    private static func scopes(_ text: String?) -> [String] {
        (text ?? "").split(separator: " ").map(String.init).reduce(into: []) { if !$0.contains($1) { $0.append($1) } }
    }

    /// Discovers (once) and asks the token endpoint for a token.
    private func obtainToken() async throws(MCPSessionError) -> OAuthTokenRequest.Token {
        let endpoint = try await discoveredEndpoint()
        let scope = state.withLock { self.scope($0, supported: endpoint.scopesSupported) }
        let credentialType = endpoint.authMethod.credentialType
        let stored: String
        do {
            stored = try await credential(credentialType)
        } catch let error as MCPSessionError {
            throw error
        } catch {
            throw MCPSessionError(.misconfigured, "\(error)")
        }
        state.withLock { state in
            if !state.secrets.contains(stored) { state.secrets.insert(stored, at: 0) }
        }
        let clientCredential: OAuthTokenRequest.ClientCredential =
            endpoint.authMethod == .privateKeyJWT ? .privateKey(pem: stored, algorithm: target.config.signingAlgorithm) : .secret(stored)
        let resource = target.config.resource ?? OAuthURLs.canonicalResource(target.serverURL)
        let request = try OAuthTokenRequest.make(
            clientID: target.config.clientID, method: endpoint.authMethod, credential: clientCredential, tokenEndpoint: endpoint.tokenEndpoint,
            resource: resource, scope: scope)
        let response = try await http.postForm(endpoint.tokenEndpoint, body: request.body, headers: request.headers)
        do throws(MCPSessionError) {
            let token = try OAuthTokenRequest.parseResponse(status: response.status, body: response.body, tokenEndpoint: endpoint.tokenEndpoint)
            logger.info(
                "obtained an OAuth access token",
                metadata: [
                    "server": "\(target.serverName)", "token_endpoint": "\(endpoint.tokenEndpoint)", "auth_method": "\(endpoint.authMethod.rawValue)",
                    "scope": "\(token.scope ?? scope ?? "")", "expires_in": "\(token.expiresIn.map { "\($0)" } ?? "unknown")",
                ])
            return token
        } catch {
            var error = error
            error.message = redacting([stored], in: "server '\(target.serverName)': \(error.message)")
            throw error
        }
    }

    /// The token endpoint and how to authenticate there: from the config, or discovered once.
    private func discoveredEndpoint() async throws(MCPSessionError) -> Endpoint {
        let (known, challengeURL) = state.withLock { ($0.endpoint, $0.challengeURL) }
        if let known { return known }
        let config = target.config
        let discovery = OAuthDiscovery(http: http, serverName: target.serverName, serverURL: target.serverURL)
        var endpoint: Endpoint
        if let tokenEndpoint = config.tokenEndpoint {
            endpoint = Endpoint(tokenEndpoint: tokenEndpoint, authMethod: config.authMethod ?? .clientSecretBasic, scopesSupported: [])
        } else {
            var issuer = config.authorizationServer
            var supported: [String] = []
            // The resource's metadata is wanted for its scopes even when the issuer is configured,
            // but only then may it be missing.
            if config.authorizationServer == nil || challengeURL != nil {
                let resource = try await discovery.protectedResourceMetadata(challengeURL: challengeURL)
                supported = resource?.scopesSupported ?? []
                if issuer == nil {
                    guard let first = resource?.authorizationServers.first else {
                        throw MCPSessionError(
                            .misconfigured,
                            resource == nil
                                ? "server '\(target.serverName)' asks for OAuth but publishes no protected resource metadata; set \"token_endpoint\" or \"authorization_server\" in its auth config"
                                : "server '\(target.serverName)': its protected resource metadata names no authorization_servers")
                    }
                    issuer = first
                }
            }
            let metadata = try await discovery.authorizationServerMetadata(issuer: issuer!)
            endpoint = Endpoint(
                tokenEndpoint: metadata.tokenEndpoint, authMethod: config.authMethod ?? metadata.preferredAuthMethod, scopesSupported: supported)
            logger.info(
                "discovered the OAuth authorization server",
                metadata: ["server": "\(target.serverName)", "issuer": "\(metadata.issuer)", "token_endpoint": "\(metadata.tokenEndpoint)"])
        }
        state.withLock { $0.endpoint = endpoint }
        return endpoint
    }
}
