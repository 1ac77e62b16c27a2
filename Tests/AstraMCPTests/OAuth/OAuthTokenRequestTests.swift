import Foundation
import Testing

@testable import AstraMCP

@Suite("OAuth token request")
struct OAuthTokenRequestTests {
    @Test("client_secret_basic: form-encoded id and secret in the Basic header; resource and scope in the body")
    func basic() throws {
        let request = try OAuthTokenRequest.make(
            clientID: "my client", method: .clientSecretBasic, credential: .secret("p@ss:word+"), tokenEndpoint: "https://as/token",
            resource: "https://mcp.example.com/mcp", scope: "mcp:tools mcp:admin")
        #expect(request.body == "grant_type=client_credentials&resource=https%3A%2F%2Fmcp.example.com%2Fmcp&scope=mcp%3Atools+mcp%3Aadmin")
        let expected = "Basic " + Data("my+client:p%40ss%3Aword%2B".utf8).base64EncodedString()
        #expect(request.headers.map(\.0) == ["Authorization"])
        #expect(request.headers.first?.1 == expected)
    }

    @Test("client_secret_post: id and secret in the body, no header; no scope when none")
    func post() throws {
        let request = try OAuthTokenRequest.make(
            clientID: "c", method: .clientSecretPost, credential: .secret("s"), tokenEndpoint: "https://as/token", resource: "https://r", scope: nil)
        #expect(request.body == "grant_type=client_credentials&resource=https%3A%2F%2Fr&client_id=c&client_secret=s")
        #expect(request.headers.isEmpty)
    }

    @Test("a method without its credential is misconfigured")
    func mismatch() {
        #expect(throws: MCPSessionError.self) {
            try OAuthTokenRequest.make(
                clientID: "c", method: .privateKeyJWT, credential: .secret("s"), tokenEndpoint: "https://as/token", resource: "https://r", scope: nil)
        }
    }

    @Test("answers: a Bearer token with its life; refusals say the RFC 6749 error; 5xx is transient")
    func responses() throws {
        let ok = try OAuthTokenRequest.parseResponse(
            status: 200, body: Data(#"{"access_token":"abc","token_type":"bearer","expires_in":120,"scope":"x"}"#.utf8), tokenEndpoint: "T")
        #expect(ok == .init(accessToken: "abc", expiresIn: .seconds(120), scope: "x"))
        #expect(throws: MCPSessionError.self) {
            try OAuthTokenRequest.parseResponse(status: 200, body: Data(#"{"access_token":"abc","token_type":"mac"}"#.utf8), tokenEndpoint: "T")
        }
        do {
            _ = try OAuthTokenRequest.parseResponse(
                status: 401, body: Data(#"{"error":"invalid_client","error_description":"bad secret"}"#.utf8), tokenEndpoint: "T")
            Issue.record("a refusal must throw")
        } catch {
            #expect(error.code == .misconfigured)
            #expect(error.message.contains("invalid_client: bad secret"), "\(error.message)")
        }
        do {
            _ = try OAuthTokenRequest.parseResponse(status: 503, body: Data(), tokenEndpoint: "T")
            Issue.record("a 503 must throw")
        } catch {
            #expect(error.code == .disconnected)
        }
    }

    @Test("the auth method chosen from the metadata: basic, else post, else private_key_jwt; basic when unlisted")
    func preferred() {
        func method(_ methods: [String]?) -> OAuthClientCredentialsConfig.AuthMethod {
            AuthorizationServerMetadata(issuer: "i", tokenEndpoint: "t", tokenEndpointAuthMethods: methods).preferredAuthMethod
        }
        #expect(method(nil) == .clientSecretBasic)
        #expect(method(["private_key_jwt", "client_secret_post"]) == .clientSecretPost)
        #expect(method(["private_key_jwt"]) == .privateKeyJWT)
        #expect(method(["client_secret_basic", "client_secret_post"]) == .clientSecretBasic)
    }

    @Test("config: client_id required, unknown methods refused, URLs checked")
    func config() throws {
        let config = try HTTPServerConfig.parse(
            json: #"{"url":"https://mcp.example.com/mcp","auth":{"type":"oauth_client_credentials","client_id":"c","auth_method":"private_key_jwt","scope":"a b"}}"#)
        let oauth = try #require(config.auth?.oauthClientCredentials)
        #expect(oauth.clientID == "c")
        #expect(oauth.authMethod == .privateKeyJWT)
        #expect(config.auth?.credentialType == "oauth_private_key")
        #expect(throws: ConfigurationError.self) {
            try HTTPServerConfig.parse(json: #"{"url":"https://m/mcp","auth":{"type":"oauth_client_credentials"}}"#)
        }
        #expect(throws: ConfigurationError.self) {
            try HTTPServerConfig.parse(json: #"{"url":"https://m/mcp","auth":{"type":"oauth_client_credentials","client_id":"c","auth_method":"tls"}}"#)
        }
        #expect(throws: ConfigurationError.self) {
            try HTTPServerConfig.parse(json: #"{"url":"https://m/mcp","auth":{"type":"oauth_client_credentials","client_id":"c","token_endpoint":"x"}}"#)
        }
        #expect(throws: ConfigurationError.self) {
            try HTTPServerConfig.parse(json: #"{"url":"http://m/mcp","auth":{"type":"oauth_client_credentials","client_id":"c"}}"#)
        }
    }
}
