import Foundation

/// Where a remote MCP server is, from `mcp_servers.config`:
/// `{"url": "https://…/mcp", "auth": {…}}` (see ``ServerAuth``).
public struct HTTPServerConfig: Sendable, Equatable {
    public var url: String
    /// How the credential is presented, if the server needs one.
    public var auth: ServerAuth?

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
        return HTTPServerConfig(url: url, auth: try ServerAuth.parse(object["auth"]))
    }
}
