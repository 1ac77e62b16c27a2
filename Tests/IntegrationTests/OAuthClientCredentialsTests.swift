import AstraMCP
import Crypto
import _CryptoExtras
import Foundation
import PostgresNIO
import Testing

/// Remote servers that take only OAuth access tokens, obtained with the client credentials
/// grant from a real authorization server (authlib): discovery from the 401, the three client
/// authentication methods, the cache and its refresh, a revoked token, a wider scope, a wrong
/// secret. Serialized: each test runs two Python servers, a PostgreSQL and a daemon.
@Suite("OAuth client credentials", .serialized, .timeLimit(.minutes(3)))
struct OAuthClientCredentialsTests {
    static let secret = "oauth-s3cret-4471"

    static func configure(_ keys: String) -> @Sendable (inout DaemonConfiguration) -> Void {
        { configuration in
            configuration.credentialKeysDirectory = keys
            configuration.retry.maxAttempts = 1
        }
    }

    enum Discovery: String, CaseIterable, Sendable {
        /// Streamable HTTP; the 401 names the resource metadata.
        case streamable
        /// The legacy HTTP+SSE transport; the 401 names the resource metadata.
        case legacySSE
        /// The 401 names no resource metadata, but a scope: the well-known location is tried
        /// (the path-suffixed form, the only one served), and the challenge's scope is asked for.
        case wellKnownWithChallengeScope
    }

    @Test("discovery from the 401: resource metadata, then authorization server metadata; one token for many calls", arguments: Discovery.allCases)
    func discoveryFrom401(discovery: Discovery) async throws {
        let legacy = discovery == .legacySSE
        let mcpArguments = discovery == .wellKnownWithChallengeScope ? ["--no-metadata-in-challenge", "--challenge-scope", "mcp:tools mcp:admin"] : []
        try await withCredentialKeys { keys in
            try await OAuthFixtures.with(
                clients: [.init(id: "astra", method: "client_secret_basic", secret: Self.secret)], mcpArguments: mcpArguments, legacy: legacy
            ) { oauth in
                try await TestDatabase.with { db in
                    try await TestDaemon.with(db, configure: Self.configure(keys)) { daemon in
                        let server = try await daemon.registerOAuthServer(
                            "guarded", url: oauth.mcpURL, type: legacy ? "sse" : "http", auth: ["client_id": "astra"],
                            credential: Self.secret, credentialType: "oauth_client_secret", keys: keys)
                        #expect(try await daemon.syncOnceStartable(server).toolsOffered == 4)
                        let (ids, _) = try await daemon.runToCompletion {
                            try await daemon.enqueueMany("add", on: server, count: 8, argumentsSQL: "jsonb_build_object('a', g, 'b', 1)")
                        }
                        for id in ids {
                            let row = try await daemon.execution(id)
                            #expect(row.status == "success", "\(row.errorMessage ?? "")")
                        }
                        let requests = oauth.tokenRequests
                        #expect(requests.count == 1, "one token for every session and call: \(requests)")
                        let request = try #require(requests.first)
                        #expect(request["status"] as? Int == 200)
                        #expect(request["auth_method"] as? String == "client_secret_basic")
                        #expect(request["resource"] as? String == oauth.mcpURL, "RFC 8707: the server's canonical URI")
                        if discovery == .wellKnownWithChallengeScope {
                            #expect(request["scope"] as? String == "mcp:tools mcp:admin", "the challenge's scope")
                        } else {
                            #expect(request["scope"] as? String == "mcp:tools", "the resource metadata's scopes_supported")
                        }
                        // Only the first requests of sessions (sent before any token) were refused.
                        let refused = oauth.unauthorized
                        #expect(!refused.isEmpty)
                        #expect(refused.allSatisfy { $0["had_token"] as? Bool == false }, "\(refused)")
                        #expect(oauth.mcpServer.objects("call-").count == 8)
                    }
                }
            }
        }
    }

    enum Method: String, CaseIterable, Sendable {
        /// Named in the config, with the token endpoint given: no discovery at all.
        case basicWithTokenEndpoint
        /// Not named: chosen from `token_endpoint_auth_methods_supported`.
        case postChosenFromMetadata
        /// A JWT signed with the client's P-256 key.
        case privateKeyJWT
        /// A JWT signed with the client's RSA key.
        case privateKeyJWTRS256
    }

    @Test("client authentication: client_secret_basic, client_secret_post, private_key_jwt (ES256, RS256)", arguments: Method.allCases)
    func clientAuthentication(method: Method) async throws {
        let key = P256.Signing.PrivateKey()
        let rsaKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let client: OAuthFixtures.Client
        var authArguments: [String] = []
        switch method {
        case .basicWithTokenEndpoint: client = .init(id: "astra", method: "client_secret_basic", secret: Self.secret)
        case .postChosenFromMetadata:
            client = .init(id: "astra", method: "client_secret_post", secret: Self.secret)
            authArguments = ["--auth-methods", "private_key_jwt,client_secret_post"]
        case .privateKeyJWT: client = .init(id: "astra", method: "private_key_jwt", publicKeyPEM: key.publicKey.pemRepresentation)
        case .privateKeyJWTRS256: client = .init(id: "astra", method: "private_key_jwt", publicKeyPEM: rsaKey.publicKey.pemRepresentation)
        }
        try await withCredentialKeys { keys in
            try await OAuthFixtures.with(clients: [client], authArguments: authArguments) { oauth in
                try await TestDatabase.with { db in
                    try await TestDaemon.with(db, configure: Self.configure(keys)) { daemon in
                        var auth = ["client_id": "astra"]
                        switch method {
                        case .basicWithTokenEndpoint:
                            auth["auth_method"] = "client_secret_basic"
                            auth["token_endpoint"] = oauth.issuer + "/token"
                        case .postChosenFromMetadata: break
                        case .privateKeyJWT: auth["auth_method"] = "private_key_jwt"
                        case .privateKeyJWTRS256:
                            auth["auth_method"] = "private_key_jwt"
                            auth["signing_algorithm"] = "RS256"
                        }
                        let (credential, credentialType) =
                            switch method {
                            case .privateKeyJWT: (key.pemRepresentation, "oauth_private_key")
                            case .privateKeyJWTRS256: (rsaKey.pemRepresentation, "oauth_private_key")
                            case .basicWithTokenEndpoint, .postChosenFromMetadata: (Self.secret, "oauth_client_secret")
                            }
                        let server = try await daemon.registerOAuthServer(
                            "guarded", url: oauth.mcpURL, auth: auth, credential: credential, credentialType: credentialType, keys: keys)
                        try await daemon.syncOnceStartable(server)
                        let row = try await daemon.run("echo", on: server, arguments: #"{"text":"authenticated"}"#)
                        #expect(row.status == "success", "\(row.errorMessage ?? "")")
                        let requests = oauth.tokenRequests
                        #expect(requests.count == 1, "\(requests)")
                        let expected = ["client_secret_basic", "client_secret_post", "private_key_jwt", "private_key_jwt"][Method.allCases.firstIndex(of: method)!]
                        #expect(requests.first?["auth_method"] as? String == expected)
                        #expect(requests.first?["status"] as? Int == 200, "\(requests)")
                        #expect(requests.first?["client_id"] as? String == "astra")
                    }
                }
            }
        }
    }

    @Test("tokens of 3 s are replaced before they expire: calls never meet a 401, and each token serves a while")
    func refreshBeforeExpiry() async throws {
        try await withCredentialKeys { keys in
            try await OAuthFixtures.with(clients: [.init(id: "astra", method: "client_secret_basic", secret: Self.secret)], expiresIn: 3) { oauth in
                try await TestDatabase.with { db in
                    try await TestDaemon.with(db, configure: Self.configure(keys)) { daemon in
                        let server = try await daemon.registerOAuthServer(
                            "guarded", url: oauth.mcpURL, auth: ["client_id": "astra"],
                            credential: Self.secret, credentialType: "oauth_client_secret", keys: keys)
                        try await daemon.syncOnceStartable(server)
                        // Calls one after another until the third token has been issued (about 5 s).
                        var calls = 0
                        let deadline = ContinuousClock.now + .seconds(60)
                        while oauth.tokenRequests.count < 3 {
                            #expect(ContinuousClock.now < deadline, "tokens were not refreshed")
                            if ContinuousClock.now >= deadline { return }
                            let row = try await daemon.run("add", on: server, arguments: #"{"a":\#(calls),"b":1}"#)
                            #expect(row.status == "success", "\(row.errorMessage ?? "")")
                            calls += 1
                        }
                        let requests = oauth.tokenRequests
                        #expect(requests.allSatisfy { $0["status"] as? Int == 200 })
                        // Each token is used for most of its life (refreshed 0.6 s before it expires),
                        // not fetched per call.
                        let times = requests.compactMap { $0["at"] as? Double }
                        for (a, b) in zip(times, times.dropFirst()) { #expect(b - a >= 1.5, "tokens at \(times)") }
                        #expect(calls > requests.count)
                        let refused = oauth.unauthorized
                        #expect(refused.allSatisfy { $0["had_token"] as? Bool == false }, "no token was refused: \(refused)")
                    }
                }
            }
        }
    }

    @Test("a token revoked by the server: one 401, one new token, the call succeeds, and a non-idempotent call runs once")
    func revokedToken() async throws {
        try await withCredentialKeys { keys in
            try await OAuthFixtures.with(clients: [.init(id: "astra", method: "client_secret_basic", secret: Self.secret)]) { oauth in
                try await TestDatabase.with { db in
                    try await TestDaemon.with(db, configure: Self.configure(keys)) { daemon in
                        let server = try await daemon.registerOAuthServer(
                            "guarded", url: oauth.mcpURL, auth: ["client_id": "astra"],
                            credential: Self.secret, credentialType: "oauth_client_secret", keys: keys)
                        try await daemon.syncOnceStartable(server)
                        try await daemon.execute("UPDATE mcp_tools SET is_idempotent = false WHERE server_id = '\(server.id)' AND tool_name = 'append'")
                        #expect(try await daemon.run("append", on: server, arguments: #"{"text":"first"}"#).status == "success")
                        #expect(oauth.tokenRequests.count == 1)

                        try await oauth.revokeAllTokens()
                        let row = try await daemon.run("append", on: server, arguments: #"{"text":"second"}"#)
                        #expect(row.status == "success", "\(row.errorMessage ?? "")")
                        #expect(oauth.tokenRequests.count == 2, "one new token after the 401: \(oauth.tokenRequests)")
                        // The revoked token was refused once: for the call, unless a ping got there first
                        // (then the call went with the new token at once).
                        let refusedWithToken = oauth.unauthorized.filter { $0["had_token"] as? Bool == true }
                        #expect(!refusedWithToken.isEmpty)
                        #expect(refusedWithToken.filter { $0["method"] as? String == "tools/call" }.count <= 1, "\(refusedWithToken)")
                        #expect(oauth.appends.map { $0["text"] as? String } == ["first", "second"], "each call ran exactly once")
                    }
                }
            }
        }
    }

    @Test("insufficient_scope: a token with the wider scope is fetched; a client that cannot have it fails after 2 tries")
    func insufficientScope() async throws {
        let clients: [OAuthFixtures.Client] = [
            .init(id: "astra", method: "client_secret_basic", secret: Self.secret, scopes: "mcp:tools mcp:admin"),
            .init(id: "narrow", method: "client_secret_basic", secret: Self.secret, scopes: "mcp:tools"),
        ]
        try await withCredentialKeys { keys in
            try await OAuthFixtures.with(clients: clients, mcpArguments: ["--tool-scope", "admin_echo=mcp:admin"]) { oauth in
                try await TestDatabase.with { db in
                    try await TestDaemon.with(db, configure: Self.configure(keys)) { daemon in
                        let server = try await daemon.registerOAuthServer(
                            "guarded", url: oauth.mcpURL, auth: ["client_id": "astra"],
                            credential: Self.secret, credentialType: "oauth_client_secret", keys: keys)
                        try await daemon.syncOnceStartable(server)
                        let row = try await daemon.run("admin_echo", on: server, arguments: #"{"text":"admin"}"#)
                        #expect(row.status == "success", "\(row.errorMessage ?? "")")
                        let requests = oauth.tokenRequests
                        #expect(requests.count == 2, "\(requests)")
                        #expect(requests.last?["scope"] as? String == "mcp:tools mcp:admin")
                        #expect(oauth.forbidden.count == 1)

                        let narrow = try await daemon.registerOAuthServer(
                            "narrow", url: oauth.mcpURL, auth: ["client_id": "narrow"],
                            credential: Self.secret, credentialType: "oauth_client_secret", keys: keys)
                        try await daemon.syncOnceStartable(narrow)
                        let before = (oauth.tokenRequests.count, oauth.forbidden.count)
                        let refused = try await daemon.run("admin_echo", on: narrow, arguments: #"{"text":"admin"}"#)
                        #expect(refused.status == "error")
                        let message = refused.errorMessage ?? ""
                        #expect(message.contains("insufficient_scope") && message.contains("mcp:admin"), "\(message)")
                        #expect(oauth.tokenRequests.count - before.0 == 2, "two new tokens, no more")
                        #expect(oauth.forbidden.count - before.1 == 3, "the first try and two with new tokens")
                    }
                }
            }
        }
    }

    @Test("a wrong client secret: executions end error, saying the authorization server refused it, without the secret")
    func wrongSecret() async throws {
        try await withCredentialKeys { keys in
            try await OAuthFixtures.with(clients: [.init(id: "astra", method: "client_secret_post", secret: Self.secret)]) { oauth in
                try await TestDatabase.with { db in
                    try await TestDaemon.with(db, configure: Self.configure(keys)) { daemon in
                        let wrong = "wrong-secret-90210"
                        let server = try await daemon.registerOAuthServer(
                            "guarded", url: oauth.mcpURL, auth: ["client_id": "astra", "auth_method": "client_secret_post"], credential: wrong,
                            credentialType: "oauth_client_secret", keys: keys)
                        try await daemon.addTool("add", to: server)
                        let row = try await daemon.run("add", on: server, arguments: #"{"a":1,"b":2}"#)
                        #expect(row.status == "error")
                        let message = row.errorMessage ?? ""
                        #expect(message.contains("invalid_client"), "\(message)")
                        #expect(!message.contains(wrong))
                        let lastError = try await daemon.serverColumn("last_error", of: server) ?? ""
                        #expect(!lastError.contains(wrong))
                        #expect(oauth.tokenRequests.allSatisfy { $0["status"] as? Int == 401 })
                    }
                }
            }
        }
    }
}
