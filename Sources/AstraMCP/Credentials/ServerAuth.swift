import Foundation

/// How a remote server expects its credential, from `mcp_servers.config.auth`:
/// - `{"type": "api_key", "header": "X-N8N-API-Key"}`: the secret in that header;
/// - `{"type": "bearer"}`: `Authorization: Bearer <secret>`;
/// - `{"type": "basic"}`: the secret is `user:password`, sent as `Authorization: Basic …`;
/// - `{"type": "custom", "headers": {"X-Key": "{secret}", "X-Org": "acme"}}`: headers with the
///   secret in place of `{secret}`;
/// - `{"type": "oauth_client_credentials", "client_id": "…", …}`: access tokens obtained with
///   the OAuth 2.1 client credentials grant (see ``OAuthClientCredentialsConfig``), sent as
///   `Authorization: Bearer …`.
///
/// The secret itself is in `mcp_server_credentials`, under the `credential_type` named here.
public struct ServerAuth: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        case apiKey(header: String)
        case bearer
        case basic
        case custom(headers: [String: String])
        case oauthClientCredentials(OAuthClientCredentialsConfig)
    }
    let kind: Kind

    /// The `credential_type` row that holds the secret.
    public var credentialType: String {
        switch kind {
        case .apiKey: return "api_key"
        case .bearer: return "oauth_token"
        case .basic: return "basic_auth"
        case .custom: return "custom"
        case .oauthClientCredentials(let config): return (config.authMethod ?? .clientSecretBasic).credentialType
        }
    }

    /// The client credentials grant's configuration, when tokens are obtained that way.
    public var oauthClientCredentials: OAuthClientCredentialsConfig? {
        if case .oauthClientCredentials(let config) = kind { return config }
        return nil
    }

    /// Parses `config.auth`; nil when there is none.
    static func parse(_ value: Any?) throws(ConfigurationError) -> ServerAuth? {
        guard let value else { return nil }
        guard let object = value as? [String: Any], let type = object["type"] as? String else {
            throw ConfigurationError("server config \"auth\" must be an object with a \"type\"")
        }
        switch type {
        case "api_key":
            guard let header = object["header"] as? String, !header.isEmpty else {
                throw ConfigurationError("server config \"auth\" of type api_key needs \"header\"")
            }
            return ServerAuth(kind: .apiKey(header: header))
        case "bearer", "oauth_token":
            return ServerAuth(kind: .bearer)
        case "basic", "basic_auth":
            return ServerAuth(kind: .basic)
        case "custom":
            guard let headers = object["headers"] as? [String: String], !headers.isEmpty else {
                throw ConfigurationError("server config \"auth\" of type custom needs \"headers\" (string values)")
            }
            return ServerAuth(kind: .custom(headers: headers))
        case "oauth_client_credentials":
            return ServerAuth(kind: .oauthClientCredentials(try OAuthClientCredentialsConfig.parse(object)))
        default:
            throw ConfigurationError(
                "server config \"auth\" has unknown type '\(type)' (api_key, bearer, basic, custom, oauth_client_credentials)")
        }
    }

    /// The headers that present `secret`.
    func headers(secret: String) -> [(String, String)] {
        switch kind {
        case .apiKey(let header): return [(header, secret)]
        case .bearer: return [("Authorization", "Bearer " + secret)]
        case .basic: return [("Authorization", "Basic " + Data(secret.utf8).base64EncodedString())]
        case .custom(let headers): return headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value.replacingOccurrences(of: "{secret}", with: secret)) }
        // The secret is the client's; its tokens come from the authorization server (OAuthClient).
        case .oauthClientCredentials: return []
        }
    }
}

/// Replaces every occurrence of the secrets (and their base64 forms) in `text` with `***`, for
/// anything that may echo a header: error messages, `last_error`, logs.
func redacting(_ secrets: [String], in text: String) -> String {
    var text = text
    for secret in secrets where secret.count >= 4 {
        text = text.replacingOccurrences(of: secret, with: "***")
        text = text.replacingOccurrences(of: Data(secret.utf8).base64EncodedString(), with: "***")
    }
    return text
}
