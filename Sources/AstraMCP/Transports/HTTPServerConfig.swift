import Foundation

/// Where a remote MCP server is, from `mcp_servers.config`:
/// `{"url": "https://…/mcp", "auth": {…}}` (see ``ServerAuth``).
///
/// A credential is never sent over plain `http://`, where anyone on the path reads it, unless
/// the config says `"allow_insecure_http": true` (a server on a network the operator trusts).
public struct HTTPServerConfig: Sendable, Equatable {
    public var url: String
    /// How the credential is presented, if the server needs one.
    public var auth: ServerAuth?
    /// Whether credentials may go over plain `http://` (`allow_insecure_http`): also to the
    /// OAuth metadata and token endpoints.
    public var allowInsecureHTTP = false

    /// Parses the `config` column; the error says which field is wrong.
    public static func parse(json: String) throws(ConfigurationError) -> HTTPServerConfig {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
            throw ConfigurationError("server config is not a JSON object")
        }
        guard let url = object["url"] as? String, let components = URLComponents(string: url),
            components.scheme == "http" || components.scheme == "https", components.host?.isEmpty == false
        else {
            throw ConfigurationError("server config needs \"url\": an http:// or https:// URL")
        }
        let auth = try ServerAuth.parse(object["auth"])
        let allowInsecureHTTP = object["allow_insecure_http"] as? Bool == true
        if auth != nil, components.scheme == "http", !allowInsecureHTTP {
            throw ConfigurationError(
                "server config would send its credential over plain http://; use https://, or set \"allow_insecure_http\": true if the network is trusted")
        }
        return HTTPServerConfig(url: url, auth: auth, allowInsecureHTTP: allowInsecureHTTP)
    }
}
