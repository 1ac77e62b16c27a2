import Foundation

/// The parts of an RFC 9728 protected resource metadata document an OAuth client uses.
struct ProtectedResourceMetadata: Sendable, Equatable {
    var resource: String?
    var authorizationServers: [String]
    var scopesSupported: [String]

    /// Parses the document; nil when it is not a JSON object.
    init?(json: Data) {
        guard let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any] else { return nil }
        resource = object["resource"] as? String
        authorizationServers = (object["authorization_servers"] as? [Any])?.compactMap { $0 as? String } ?? []
        scopesSupported = (object["scopes_supported"] as? [Any])?.compactMap { $0 as? String } ?? []
    }

    init(resource: String?, authorizationServers: [String], scopesSupported: [String] = []) {
        self.resource = resource
        self.authorizationServers = authorizationServers
        self.scopesSupported = scopesSupported
    }
}

/// The parts of RFC 8414 (or OpenID Connect Discovery) authorization server metadata an OAuth
/// client credentials client uses.
struct AuthorizationServerMetadata: Sendable, Equatable {
    var issuer: String
    var tokenEndpoint: String
    /// nil when the document does not say (RFC 8414's default is `client_secret_basic`).
    var tokenEndpointAuthMethods: [String]?

    /// Parses the document; nil when it is not a JSON object with `issuer` and `token_endpoint`.
    init?(json: Data) {
        guard let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any],
            let issuer = object["issuer"] as? String, let tokenEndpoint = object["token_endpoint"] as? String
        else { return nil }
        self.issuer = issuer
        self.tokenEndpoint = tokenEndpoint
        tokenEndpointAuthMethods = (object["token_endpoint_auth_methods_supported"] as? [Any])?.compactMap { $0 as? String }
    }

    init(issuer: String, tokenEndpoint: String, tokenEndpointAuthMethods: [String]? = nil) {
        self.issuer = issuer
        self.tokenEndpoint = tokenEndpoint
        self.tokenEndpointAuthMethods = tokenEndpointAuthMethods
    }

    /// The method to authenticate with when the config names none: a secret in the Basic header
    /// where allowed (the default of RFC 8414 when unlisted), else in the body, else a signed
    /// assertion.
    var preferredAuthMethod: OAuthClientCredentialsConfig.AuthMethod {
        guard let methods = tokenEndpointAuthMethods, !methods.isEmpty else { return .clientSecretBasic }
        for method in [OAuthClientCredentialsConfig.AuthMethod.clientSecretBasic, .clientSecretPost, .privateKeyJWT] where methods.contains(method.rawValue) {
            return method
        }
        return .clientSecretBasic
    }
}
