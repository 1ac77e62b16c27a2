import AsyncHTTPClient
import NIOHTTP1

extension HTTPTransport {
    /// ``send(_:body:repeatable:)`` with the server's OAuth access token, when it uses one (see
    /// ``authorized(_:stillWanted:perform:)``).
    func authorizedSend(
        _ request: HTTPClientRequest, body: [UInt8], repeatable: Bool = true, stillWanted: () -> Bool = { true }
    ) async throws -> HTTPClientResponse {
        try await authorized(request, stillWanted: stillWanted) { request in try await send(request, body: body, repeatable: repeatable) }
    }

    /// Performs `request` with `Authorization: Bearer <token>` when the server uses OAuth (as
    /// it is otherwise), and answers its refusals:
    /// - a 401 drops the token (or, before any, starts discovery from the challenge), and the
    ///   request goes again with a new one, once;
    /// - a 403 `insufficient_scope` asks for a token with the scope the challenge names, at
    ///   most ``OAuthClient/maxScopeStepUps`` times, then fails with a clear error.
    ///
    /// Either refusal means the server did not act on the request, so sending it again is
    /// safe even for a call that is not idempotent; but not once the caller has given it up
    /// (`stillWanted` false: cancelled or timed out meanwhile). Any other answer, or a failure
    /// to get one, is the caller's, as without OAuth.
    func authorized(
        _ request: HTTPClientRequest, stillWanted: () -> Bool = { true }, perform: (HTTPClientRequest) async throws -> HTTPClientResponse
    ) async throws -> HTTPClientResponse {
        guard let oauth = endpoint.oauth else { return try await perform(request) }
        var retriedUnauthorized = false
        var stepUps = 0
        while true {
            let token = try await oauth.accessToken()
            var request = request
            if let token { request.headers.replaceOrAdd(name: "Authorization", value: "Bearer " + token) }
            let response = try await perform(request)
            let challenge = BearerChallenge(headerValues: response.headers["WWW-Authenticate"])
            switch response.status.code {
            case 401 where !retriedUnauthorized:
                retriedUnauthorized = true
                _ = try? await response.body.collect(upTo: 64 << 10)
                logger.debug(
                    token == nil ? "server asks for an OAuth token" : "server refused its OAuth token; getting a new one",
                    metadata: ["server": "\(serverName)"])
                oauth.unauthorized(token: token, challenge: challenge)
            case 403 where challenge?.error == "insufficient_scope":
                _ = try? await response.body.collect(upTo: 64 << 10)
                guard stepUps < oauth.maxScopeStepUps else {
                    throw MCPSessionError(
                        .misconfigured,
                        "server '\(serverName)' needs OAuth scope '\((challenge?.scope ?? "?").prefix(200))', and still refused the request "
                            + "(403 insufficient_scope) after \(stepUps) new tokens: the authorization server does not grant it to client "
                            + "'\(oauth.target.config.clientID)'")
                }
                stepUps += 1
                logger.info(
                    "server needs a wider OAuth scope; getting a new token",
                    metadata: ["server": "\(serverName)", "scope": "\(challenge?.scope ?? "")"])
                oauth.insufficientScope(token: token, challenge: challenge!)
            default:
                return response
            }
            guard stillWanted() else {
                throw MCPSessionError(.cancelled, "request to server '\(serverName)' given up while its OAuth token was renewed", requestNeverSent: true)
            }
        }
    }
}
