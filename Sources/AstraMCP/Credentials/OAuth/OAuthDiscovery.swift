import Foundation

/// Finds where a server's tokens come from: its protected resource metadata (RFC 9728), from
/// the 401 challenge's `resource_metadata` or the well-known locations, names the
/// authorization server; that server's metadata (RFC 8414, or OpenID Connect Discovery) names
/// its token endpoint.
struct OAuthDiscovery: Sendable {
    var http: OAuthHTTP
    var serverName: String
    var serverURL: String

    /// The server's protected resource metadata; nil when no location has any (all 404).
    /// - Parameter challengeURL: The 401 challenge's `resource_metadata`, tried first.
    func protectedResourceMetadata(challengeURL: String?) async throws(MCPSessionError) -> ProtectedResourceMetadata? {
        var candidates = OAuthURLs.protectedResourceMetadata(serverURL)
        if let challengeURL {
            guard OAuthURLs.httpURL(challengeURL) != nil else {
                throw MCPSessionError(.protocolError, "server '\(serverName)' named a resource_metadata that is not an http(s) URL")
            }
            candidates.removeAll { $0 == challengeURL }
            candidates.insert(challengeURL, at: 0)
        }
        for url in candidates {
            let response = try await http.get(url)
            guard response.status == 200 else {
                try rethrowUnavailable(response.status, url)
                continue
            }
            guard let metadata = ProtectedResourceMetadata(json: response.body) else {
                throw MCPSessionError(.misconfigured, "server '\(serverName)': its protected resource metadata at \(url) is not a JSON object")
            }
            if let resource = metadata.resource, !OAuthURLs.resource(resource, covers: serverURL) {
                throw MCPSessionError(
                    .misconfigured,
                    "server '\(serverName)': its protected resource metadata at \(url) is for resource \(resource.prefix(200)), not \(serverURL)")
            }
            return metadata
        }
        return nil
    }

    /// The metadata of the authorization server `issuer`, from the first well-known location
    /// that has it; its `issuer` must be `issuer` (RFC 8414 §3.3), or anyone able to serve one
    /// document could send our credentials elsewhere.
    func authorizationServerMetadata(issuer: String) async throws(MCPSessionError) -> AuthorizationServerMetadata {
        let candidates = OAuthURLs.authorizationServerMetadata(issuer)
        guard !candidates.isEmpty else {
            throw MCPSessionError(.misconfigured, "server '\(serverName)': authorization server '\(issuer.prefix(200))' is not an http(s) URL")
        }
        for url in candidates {
            let response = try await http.get(url)
            guard response.status == 200 else {
                try rethrowUnavailable(response.status, url)
                continue
            }
            guard let metadata = AuthorizationServerMetadata(json: response.body) else {
                throw MCPSessionError(
                    .misconfigured, "server '\(serverName)': authorization server metadata at \(url) lacks issuer or token_endpoint")
            }
            guard Self.sameIssuer(metadata.issuer, issuer) else {
                throw MCPSessionError(
                    .misconfigured,
                    "server '\(serverName)': authorization server metadata at \(url) names issuer \(metadata.issuer.prefix(200)), not \(issuer.prefix(200))")
            }
            return metadata
        }
        throw MCPSessionError(
            .misconfigured, "server '\(serverName)': found no metadata for authorization server \(issuer.prefix(200)) (tried \(candidates.joined(separator: ", ")))")
    }

    /// A location that is down (5xx, 429) makes discovery fail for now; one that does not
    /// have the document (404 and other answers) is skipped.
    private func rethrowUnavailable(_ status: UInt, _ url: String) throws(MCPSessionError) {
        if status >= 500 || status == 429 {
            throw MCPSessionError(.disconnected, "server '\(serverName)': OAuth metadata at \(url) answered HTTP \(status)")
        }
    }

    /// Issuers compare as strings, a trailing slash aside.
    static func sameIssuer(_ a: String, _ b: String) -> Bool {
        func trimmed(_ s: String) -> Substring { s.hasSuffix("/") ? s.dropLast() : Substring(s) }
        return trimmed(a) == trimmed(b)
    }
}
