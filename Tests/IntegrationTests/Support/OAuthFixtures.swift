import AstraMCP
import Foundation
import PostgresNIO

#if canImport(Glibc)
import Glibc
#endif

/// An OAuth authorization server (`Tests/Fixtures/oauth_server.py`, authlib) and a Streamable
/// HTTP (or legacy SSE) MCP server that takes only its tokens (`oauth_mcp_server.py`), on free
/// ports of 127.0.0.1 for one test. Both record what they saw.
final class OAuthFixtures: @unchecked Sendable {
    let authServer = PythonFixture(recordPrefix: "astra-oauth-as")
    let mcpServer = PythonFixture(recordPrefix: "astra-oauth-mcp")
    let issuerPath: String
    let legacy: Bool

    var issuer: String { "http://127.0.0.1:\(authServer.port)\(issuerPath)" }
    var mcpURL: String { "http://127.0.0.1:\(mcpServer.port)\(legacy ? "/sse" : "/mcp")" }

    init(issuerPath: String, legacy: Bool) {
        self.issuerPath = issuerPath
        self.legacy = legacy
    }

    /// A client the authorization server knows.
    struct Client {
        var id: String
        var method: String
        var secret: String? = nil
        var publicKeyPEM: String? = nil
        var scopes: String? = nil

        var json: String {
            var object: [String: String] = ["id": id, "method": method]
            object["secret"] = secret
            object["public_key_pem"] = publicKeyPEM
            object["scopes"] = scopes
            return String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        }
    }

    static func with<T: Sendable>(
        clients: [Client], issuerPath: String = "/tenant", expiresIn: Int = 3600, authArguments: [String] = [], mcpArguments: [String] = [],
        legacy: Bool = false, _ body: (OAuthFixtures) async throws -> T
    ) async throws -> T {
        let fixtures = OAuthFixtures(issuerPath: issuerPath, legacy: legacy)
        defer {
            fixtures.mcpServer.stop()
            fixtures.authServer.stop()
        }
        try await fixtures.authServer.start(
            "oauth_server.py",
            ["\(fixtures.authServer.port)", "--record", fixtures.authServer.record, "--issuer-path", issuerPath, "--expires-in", "\(expiresIn)"]
                + clients.flatMap { ["--client", $0.json] } + authArguments)
        try await fixtures.mcpServer.start(
            "oauth_mcp_server.py",
            ["\(fixtures.mcpServer.port)", "--issuer", fixtures.issuer, "--record", fixtures.mcpServer.record] + (legacy ? ["--sse"] : [])
                + mcpArguments)
        return try await body(fixtures)
    }

    /// Every token request the authorization server answered, in order.
    var tokenRequests: [[String: Any]] { authServer.objects("token-") }
    /// The requests the MCP server answered 401.
    var unauthorized: [[String: Any]] { mcpServer.objects("unauthorized-") }
    /// The requests the MCP server answered 403 insufficient_scope.
    var forbidden: [[String: Any]] { mcpServer.objects("forbidden-") }
    /// The runs of the non-idempotent `append` tool.
    var appends: [[String: Any]] { mcpServer.objects("append-") }

    /// Revokes every token issued so far, and waits until the server says it has.
    func revokeAllTokens() async throws {
        authServer.send(signal: SIGUSR1)
        try await eventually(.seconds(10), "the authorization server to revoke its tokens") { [authServer] in
            FileManager.default.fileExists(atPath: authServer.record + "/revoked.json")
        }
    }
}

extension TestDaemon {
    /// Inserts a remote server whose tokens come from the client credentials grant, with
    /// `auth` merged into its `config.auth`, and its credential (`credential_type` `type`).
    /// The row is inserted inactive and activated once the credential is stored, so that no
    /// session starts without it (nor is replaced because it changed). Plain http:// on
    /// loopback, as the test says.
    func registerOAuthServer(
        _ name: String, url: String, type: String = "http", auth: [String: String], credential: String, credentialType: String, keys: String
    ) async throws -> ServerDescriptor {
        var authObject: [String: String] = ["type": "oauth_client_credentials"]
        authObject.merge(auth) { $1 }
        let object: [String: Any] = ["url": url, "auth": authObject, "allow_insecure_http": true]
        let config = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        let rows = try await database.query(
            """
            INSERT INTO mcp_servers (team_id, name, server_type, config, is_active) VALUES (\(team), \(name), \(type), \(config)::jsonb, false)
            RETURNING id
            """,
            logger: logger
        ).collect()
        let id = try rows[0].decode(UUID.self)
        try await CredentialStore(database: database, keyring: try CredentialKeyring.load(directory: keys), logger: logger)
            .store(secret: credential, serverID: id, credentialType: credentialType)
        let active = try await database.query(
            "UPDATE mcp_servers SET is_active = true WHERE id = \(id) RETURNING config::text", logger: logger
        ).collect()
        return ServerDescriptor(id: id, name: name, serverType: type, isActive: true, configJSON: try active[0].decode(String.self))
    }

    /// Syncs `server`'s tools once a session can start: the server watcher may stop a session
    /// that starts while it acts on the row's activation, and a stopped start is held back briefly.
    @discardableResult
    func syncOnceStartable(_ server: ServerDescriptor) async throws -> ToolSyncer.Result {
        try await eventually(.seconds(10), "a sync with the stored credential") { [self] in (try? await sync(server)) != nil }
        return try await sync(server)
    }
}
