import Testing

@testable import AstraMCP

@Suite("OAuth metadata URLs")
struct OAuthURLsTests {
    @Test("protected resource metadata: the path-suffixed form first, then the root")
    func protectedResource() {
        #expect(
            OAuthURLs.protectedResourceMetadata("https://mcp.example.com/public/mcp?x=1#f") == [
                "https://mcp.example.com/.well-known/oauth-protected-resource/public/mcp",
                "https://mcp.example.com/.well-known/oauth-protected-resource",
            ])
        #expect(OAuthURLs.protectedResourceMetadata("https://mcp.example.com/") == ["https://mcp.example.com/.well-known/oauth-protected-resource"])
        #expect(
            OAuthURLs.protectedResourceMetadata("http://127.0.0.1:8080/mcp/") == [
                "http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp", "http://127.0.0.1:8080/.well-known/oauth-protected-resource",
            ])
    }

    @Test("authorization server metadata: RFC 8414 and OIDC path insertion, then OIDC appending")
    func authorizationServer() {
        #expect(
            OAuthURLs.authorizationServerMetadata("https://auth.example.com/tenant1") == [
                "https://auth.example.com/.well-known/oauth-authorization-server/tenant1",
                "https://auth.example.com/.well-known/openid-configuration/tenant1",
                "https://auth.example.com/tenant1/.well-known/openid-configuration",
            ])
        #expect(
            OAuthURLs.authorizationServerMetadata("https://auth.example.com/") == [
                "https://auth.example.com/.well-known/oauth-authorization-server", "https://auth.example.com/.well-known/openid-configuration",
            ])
        #expect(OAuthURLs.authorizationServerMetadata("ftp://auth.example.com").isEmpty)
    }

    @Test("the canonical resource URI: lowercase scheme and host, no fragment, no trailing slash")
    func canonical() {
        #expect(OAuthURLs.canonicalResource("HTTPS://MCP.Example.com/MCP/#frag") == "https://mcp.example.com/MCP")
        #expect(OAuthURLs.canonicalResource("https://mcp.example.com/") == "https://mcp.example.com")
        #expect(OAuthURLs.canonicalResource("https://mcp.example.com:8443/server/mcp") == "https://mcp.example.com:8443/server/mcp")
    }

    @Test("a metadata resource covers the server when it is the same origin and the same or a parent path")
    func covers() {
        #expect(OAuthURLs.resource("https://mcp.example.com/mcp", covers: "https://mcp.example.com/mcp"))
        #expect(OAuthURLs.resource("https://mcp.example.com", covers: "https://mcp.example.com/mcp"))
        #expect(OAuthURLs.resource("https://mcp.example.com/a", covers: "https://mcp.example.com/a/mcp"))
        #expect(!OAuthURLs.resource("https://mcp.example.com/ab", covers: "https://mcp.example.com/a"))
        #expect(!OAuthURLs.resource("https://evil.example.com/mcp", covers: "https://mcp.example.com/mcp"))
        #expect(!OAuthURLs.resource("http://mcp.example.com/mcp", covers: "https://mcp.example.com/mcp"))
    }

    @Test("credentials go over https, or over http only when allowed")
    func insecure() {
        #expect(OAuthURLs.mayCarryCredentials("https://as.example.com/token", allowInsecureHTTP: false))
        #expect(!OAuthURLs.mayCarryCredentials("http://as.example.com/token", allowInsecureHTTP: false))
        #expect(OAuthURLs.mayCarryCredentials("http://127.0.0.1/token", allowInsecureHTTP: true))
        #expect(!OAuthURLs.mayCarryCredentials("file:///etc/passwd", allowInsecureHTTP: true))
    }
}
