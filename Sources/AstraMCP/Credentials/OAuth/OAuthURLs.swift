import Foundation

/// The URLs an OAuth client works out from a server's URL and an issuer: the canonical
/// resource URI (RFC 8707, as the MCP authorization spec defines it) and the well-known
/// metadata locations, in the order the MCP spec (2025-06-18, 2025-11-25) says to try them.
enum OAuthURLs {
    /// `text` as an http(s) URL with a host, or nil.
    static func httpURL(_ text: String) -> URLComponents? {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", components.host?.isEmpty == false
        else { return nil }
        return components
    }

    /// The server's canonical URI: scheme and host lowercased, no fragment, no trailing slash
    /// (`https://MCP.example.com/mcp/` is `https://mcp.example.com/mcp`).
    static func canonicalResource(_ serverURL: String) -> String {
        guard var components = httpURL(serverURL) else { return serverURL }
        components.scheme = components.scheme?.lowercased()
        components.host = components.host?.lowercased()
        components.fragment = nil
        while components.path.hasSuffix("/") { components.path.removeLast() }
        return components.string ?? serverURL
    }

    /// Where the protected resource metadata of `serverURL` may be (RFC 9728 §3.1): the
    /// path-suffixed form first (`/.well-known/oauth-protected-resource/mcp`), then the root.
    static func protectedResourceMetadata(_ serverURL: String) -> [String] {
        wellKnown("oauth-protected-resource", for: serverURL).map { origin, path in
            path.isEmpty ? [origin + "/.well-known/oauth-protected-resource"]
                : [origin + "/.well-known/oauth-protected-resource" + path, origin + "/.well-known/oauth-protected-resource"]
        } ?? []
    }

    /// Where the authorization server metadata of `issuer` may be, in the MCP spec's order: for
    /// an issuer with a path, RFC 8414 path insertion, OIDC path insertion, then OIDC path
    /// appending; for one without, RFC 8414 then OIDC.
    static func authorizationServerMetadata(_ issuer: String) -> [String] {
        wellKnown("", for: issuer).map { origin, path in
            path.isEmpty
                ? [origin + "/.well-known/oauth-authorization-server", origin + "/.well-known/openid-configuration"]
                : [
                    origin + "/.well-known/oauth-authorization-server" + path, origin + "/.well-known/openid-configuration" + path,
                    origin + path + "/.well-known/openid-configuration",
                ]
        } ?? []
    }

    /// The origin (`scheme://host[:port]`) and path (no trailing slash; empty for the root) of
    /// `url`, its query and fragment dropped.
    private static func wellKnown(_ name: String, for url: String) -> (origin: String, path: String)? {
        guard var components = httpURL(url) else { return nil }
        var path = components.percentEncodedPath
        while path.hasSuffix("/") { path.removeLast() }
        components.percentEncodedPath = ""
        components.query = nil
        components.fragment = nil
        guard let origin = components.string else { return nil }
        return (origin, path)
    }

    /// Whether `resource` (a protected resource metadata's `resource`) may stand for
    /// `serverURL`: the same origin, and a path that is the server's or a parent of it (RFC 9728
    /// §3.3 wants them equal; servers commonly name their origin, which the SDKs accept too).
    static func resource(_ resource: String, covers serverURL: String) -> Bool {
        guard let a = wellKnown("", for: canonicalResource(resource)), let b = wellKnown("", for: canonicalResource(serverURL)) else { return false }
        guard a.origin.lowercased() == b.origin.lowercased() else { return false }
        return a.path.isEmpty || b.path == a.path || b.path.hasPrefix(a.path + "/")
    }

    /// Whether credentials may be sent to `url`: https, or http when the config allows it.
    static func mayCarryCredentials(_ url: String, allowInsecureHTTP: Bool) -> Bool {
        guard let scheme = httpURL(url)?.scheme?.lowercased() else { return false }
        return scheme == "https" || allowInsecureHTTP
    }
}
