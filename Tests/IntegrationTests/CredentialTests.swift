import AstraMCP
import Foundation
import PostgresNIO
import Testing

/// Remote servers behind a credential check, with secrets stored encrypted.
@Suite("Credentials", .timeLimit(.minutes(2)))
struct CredentialTests {
    static let secret = "s3cret-api-key-7781"

    func registerGuarded(_ daemon: TestDaemon, url: String) async throws -> ServerDescriptor {
        // Plain http:// on loopback: the test says so (a credential never goes over http:// otherwise).
        let config = #"{"url": "\#(url)", "auth": {"type": "api_key", "header": "X-Api-Key"}, "allow_insecure_http": true}"#
        let rows = try await daemon.database.query(
            "INSERT INTO mcp_servers (team_id, name, server_type, config) VALUES (\(daemon.team), 'guarded', 'http', \(config)::jsonb) RETURNING id, config::text",
            logger: daemon.logger
        ).collect()
        let (id, stored) = try rows[0].decode((UUID, String).self)
        return ServerDescriptor(id: id, name: "guarded", serverType: "http", isActive: true, configJSON: stored)
    }

    func storedValue(_ daemon: TestDaemon, _ server: ServerDescriptor) async throws -> String? {
        try await daemon.database.query(
            "SELECT encrypted_value FROM mcp_server_credentials WHERE server_id = \(server.id)", logger: daemon.logger
        ).collect().first?.decode(String.self)
    }

    @Test("a secret posted to the inbox with SQL alone is encrypted, the inbox emptied, and calls succeed")
    func inboxThenCalls() async throws {
        try await withCredentialKeys { keys in
            try await PythonHTTPServer.with(mode: .streamableSSE, requiredHeader: "X-Api-Key:\(Self.secret)") { http in
                try await TestDatabase.with { db in
                    try await TestDaemon.with(db, configure: { $0.credentialKeysDirectory = keys }) { daemon in
                        let server = try await registerGuarded(daemon, url: http.url)
                        try await daemon.execute(
                            "INSERT INTO mcp_server_credential_inbox (server_id, credential_type, secret) VALUES ('\(server.id)', 'api_key', '\(Self.secret)')")
                        try await eventually(.seconds(5), "the inbox to be emptied into mcp_server_credentials") {
                            try await storedValue(daemon, server) != nil
                        }
                        let stored = try #require(try await storedValue(daemon, server))
                        #expect(!stored.contains(Self.secret), "the encrypted column never holds the plaintext")
                        let inbox = try await daemon.database.query("SELECT count(*)::int FROM mcp_server_credential_inbox", logger: daemon.logger)
                            .collect()[0].decode(Int32.self)
                        #expect(inbox == 0)

                        // The session that failed for want of a credential is replaced right after.
                        try await eventually(.seconds(5), "a sync with the stored credential") {
                            (try? await daemon.sync(server)) != nil
                        }
                        let row = try await daemon.run("add", on: server, arguments: #"{"a":20,"b":22}"#)
                        #expect(row.status == "success", "\(row.errorMessage ?? "")")
                        let used = try await daemon.database.query(
                            "SELECT last_used_at IS NOT NULL FROM mcp_server_credentials WHERE server_id = \(server.id)", logger: daemon.logger
                        ).collect()[0].decode(Bool.self)
                        #expect(used)
                    }
                }
            }
        }
    }

    @Test("a wrong credential: a clear 401 error, and the secret appears nowhere")
    func wrongCredential() async throws {
        try await withCredentialKeys { keys in
            try await PythonHTTPServer.with(mode: .streamableSSE, requiredHeader: "X-Api-Key:\(Self.secret)") { http in
                try await TestDatabase.with { db in
                    try await TestDaemon.with(db, configure: { $0.credentialKeysDirectory = keys; $0.retry.maxAttempts = 1 }) { daemon in
                        let server = try await registerGuarded(daemon, url: http.url)
                        let wrong = "wrong-key-55512"
                        try await CredentialStore(database: daemon.database, keyring: try CredentialKeyring.load(directory: keys), logger: daemon.logger)
                            .store(secret: wrong, serverID: server.id, credentialType: "api_key")
                        try await daemon.addTool("add", to: server)
                        let row = try await daemon.run("add", on: server, arguments: #"{"a":1,"b":2}"#)
                        #expect(row.status == "error")
                        let message = row.errorMessage ?? ""
                        #expect(message.contains("401"), "\(message)")
                        #expect(!message.contains(wrong))
                        let lastError = try await daemon.serverColumn("last_error", of: server) ?? ""
                        #expect(!lastError.contains(wrong))
                    }
                }
            }
        }
    }

    @Test("key rotation: everything is re-encrypted under the new key and calls keep working")
    func rotation() async throws {
        try await withCredentialKeys { keys in
            try await PythonHTTPServer.with(mode: .streamableJSON, requiredHeader: "X-Api-Key:\(Self.secret)") { http in
                try await TestDatabase.with { db in
                    try await TestDaemon.with(db, configure: { $0.credentialKeysDirectory = keys }) { daemon in
                        let server = try await registerGuarded(daemon, url: http.url)
                        let first = try CredentialKeyring.load(directory: keys)
                        try await CredentialStore(database: daemon.database, keyring: first, logger: daemon.logger)
                            .store(secret: Self.secret, serverID: server.id, credentialType: "api_key")
                        // A session that failed for want of the credential is held back briefly.
                        try await eventually(.seconds(5), "a sync with the stored credential") {
                            (try? await daemon.sync(server)) != nil
                        }
                        #expect(try await daemon.run("add", on: server, arguments: #"{"a":1,"b":1}"#).status == "success")

                        _ = try CredentialKeyring.generateKey(in: keys)
                        let second = try CredentialKeyring.load(directory: keys)
                        let rotated = try await CredentialStore(database: daemon.database, keyring: second, logger: daemon.logger).rotate()
                        #expect(rotated == 1)
                        let stored = try #require(try await storedValue(daemon, server))
                        #expect(CredentialKeyring.keyID(of: stored) == second.newestKeyID)
                        #expect(!stored.contains(Self.secret))

                        // A fresh session reads the re-encrypted value.
                        daemon.parts.pool.retire(serverID: server.id, reason: "test")
                        #expect(try await daemon.run("add", on: server, arguments: #"{"a":2,"b":2}"#).status == "success")
                    }
                }
            }
        }
    }
}
