/// How a remote server's OAuth 2.1 client credentials grant is configured, from
/// `mcp_servers.config.auth` with `"type": "oauth_client_credentials"`:
///
/// ```json
/// {"type": "oauth_client_credentials", "client_id": "astra",
///  "auth_method": "client_secret_basic", "scope": "mcp:tools",
///  "token_endpoint": "https://as.example.com/token", "authorization_server": "https://as.example.com",
///  "resource": "https://mcp.example.com/mcp", "signing_algorithm": "ES256"}
/// ```
/// Only `client_id` is required: the rest is discovered (RFC 9728, RFC 8414) or has a default.
/// The client secret (`client_secret_basic`, `client_secret_post`) is the server's
/// `oauth_client_secret` credential; the private key (`private_key_jwt`, a PEM) its
/// `oauth_private_key` credential.
public struct OAuthClientCredentialsConfig: Sendable, Equatable {
    /// How the client authenticates at the token endpoint.
    public enum AuthMethod: String, Sendable, Equatable, CaseIterable {
        case clientSecretBasic = "client_secret_basic"
        case clientSecretPost = "client_secret_post"
        case privateKeyJWT = "private_key_jwt"

        /// The `credential_type` that holds what this method needs.
        public var credentialType: String { self == .privateKeyJWT ? OAuthClientCredentialsConfig.privateKeyCredential : OAuthClientCredentialsConfig.secretCredential }
    }

    /// The algorithm a `private_key_jwt` assertion is signed with.
    public enum SigningAlgorithm: String, Sendable, Equatable {
        /// ECDSA with P-256 and SHA-256.
        case es256 = "ES256"
        /// RSASSA-PKCS1-v1_5 with SHA-256 (a key of 2048 bits or more).
        case rs256 = "RS256"
    }

    /// The credential type of a client secret.
    public static let secretCredential = "oauth_client_secret"
    /// The credential type of a client's private key (PEM).
    public static let privateKeyCredential = "oauth_private_key"

    /// `client_id`: the client the authorization server registered.
    public var clientID: String
    /// nil: chosen from the authorization server's `token_endpoint_auth_methods_supported`.
    public var authMethod: AuthMethod?
    /// nil: the scope of the server's 401 challenge, else its `scopes_supported`.
    public var scope: String?
    /// Given: no metadata is fetched.
    public var tokenEndpoint: String?
    /// Given: used instead of the protected resource metadata's `authorization_servers`.
    public var authorizationServer: String?
    /// The RFC 8707 `resource`; nil: the server's canonical URI (its URL without fragment or
    /// trailing slash).
    public var resource: String?
    /// `signing_algorithm` of a `private_key_jwt` assertion. Defaults to `ES256`.
    public var signingAlgorithm: SigningAlgorithm = .es256

    /// Parses the `auth` object (its `type` already checked).
    static func parse(_ object: [String: Any]) throws(ConfigurationError) -> OAuthClientCredentialsConfig {
        func string(_ key: String) throws(ConfigurationError) -> String? {
            guard let value = object[key] else { return nil }
            guard let text = value as? String, !text.isEmpty else {
                throw ConfigurationError("server config \"auth\" of type oauth_client_credentials: \"\(key)\" must be a non-empty string")
            }
            return text
        }
        guard let clientID = try string("client_id") else {
            throw ConfigurationError("server config \"auth\" of type oauth_client_credentials needs \"client_id\"")
        }
        var config = OAuthClientCredentialsConfig(clientID: clientID)
        if let method = try string("auth_method") {
            guard let known = AuthMethod(rawValue: method) else {
                throw ConfigurationError(
                    "server config \"auth\" has unknown auth_method '\(method)' (client_secret_basic, client_secret_post, private_key_jwt)")
            }
            config.authMethod = known
        }
        if let algorithm = try string("signing_algorithm") {
            guard let known = SigningAlgorithm(rawValue: algorithm) else {
                throw ConfigurationError("server config \"auth\" has unsupported signing_algorithm '\(algorithm)' (ES256, RS256)")
            }
            config.signingAlgorithm = known
        }
        config.scope = try string("scope")
        config.tokenEndpoint = try string("token_endpoint")
        config.authorizationServer = try string("authorization_server")
        config.resource = try string("resource")
        for (key, url) in [("token_endpoint", config.tokenEndpoint), ("authorization_server", config.authorizationServer), ("resource", config.resource)] {
            if let url, OAuthURLs.httpURL(url) == nil {
                throw ConfigurationError("server config \"auth\": \"\(key)\" must be an http:// or https:// URL")
            }
        }
        return config
    }
}
