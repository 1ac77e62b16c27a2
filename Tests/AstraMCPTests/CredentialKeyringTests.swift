import Foundation
import Testing

@testable import AstraMCP

@Suite("Credential encryption")
struct CredentialKeyringTests {
    func keyDirectory() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("astra-keys-\(UUID().uuidString)").path
        _ = try CredentialKeyring.generateKey(in: directory)
        return directory
    }

    @Test("a sealed secret opens again, names its key, and never contains the plaintext")
    func roundTrip() throws {
        let directory = try keyDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let keyring = try CredentialKeyring.load(directory: directory)
        let server = UUID()
        let sealed = try keyring.seal("n8n-secret-value", serverID: server, credentialType: "api_key")
        #expect(!sealed.contains("n8n-secret-value"))
        #expect(sealed.hasPrefix("v1:\(keyring.newestKeyID):"))
        #expect(try keyring.open(sealed, serverID: server, credentialType: "api_key") == "n8n-secret-value")
    }

    @Test("a value copied to another server or type does not open, and the error holds no secret")
    func boundToItsRow() throws {
        let directory = try keyDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let keyring = try CredentialKeyring.load(directory: directory)
        let sealed = try keyring.seal("top-secret", serverID: UUID(), credentialType: "api_key")
        do {
            _ = try keyring.open(sealed, serverID: UUID(), credentialType: "api_key")
            Issue.record("opened under another server")
        } catch {
            #expect(!error.description.contains("top-secret"))
        }
        #expect(throws: CredentialError.self) { try keyring.open("v1:nope:AAAA", serverID: UUID(), credentialType: "api_key") }
        #expect(throws: CredentialError.self) { try keyring.open("garbage", serverID: UUID(), credentialType: "api_key") }
    }

    @Test("with a newer key, new values use it and old values still open")
    func rotation() throws {
        let directory = try keyDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = UUID()
        let old = try CredentialKeyring.load(directory: directory)
        let sealedOld = try old.seal("s", serverID: server, credentialType: "custom")
        Thread.sleep(forTimeInterval: 0.002)  // key ids are millisecond times
        _ = try CredentialKeyring.generateKey(in: directory)
        let rotated = try CredentialKeyring.load(directory: directory)
        #expect(rotated.newestKeyID > old.newestKeyID)
        #expect(try rotated.open(sealedOld, serverID: server, credentialType: "custom") == "s")
        #expect(CredentialKeyring.keyID(of: try rotated.seal("s", serverID: server, credentialType: "custom")) == rotated.newestKeyID)
    }

    @Test("an empty key directory is a clear error")
    func noKeys() {
        #expect(throws: CredentialError.self) { try CredentialKeyring.load(directory: "/nonexistent/astra-keys") }
    }

    @Test("auth configs present the secret as their server expects")
    func authHeaders() throws {
        let apiKey = try #require(try ServerAuth.parse(["type": "api_key", "header": "X-N8N-API-Key"]))
        #expect(apiKey.headers(secret: "k").map { "\($0.0)=\($0.1)" } == ["X-N8N-API-Key=k"])
        #expect(apiKey.credentialType == "api_key")
        let bearer = try #require(try ServerAuth.parse(["type": "bearer"]))
        #expect(bearer.headers(secret: "t").first?.1 == "Bearer t")
        let basic = try #require(try ServerAuth.parse(["type": "basic"]))
        #expect(basic.headers(secret: "u:p").first?.1 == "Basic dTpw")
        let custom = try #require(try ServerAuth.parse(["type": "custom", "headers": ["X-Key": "{secret}", "X-Org": "acme"]]))
        #expect(custom.headers(secret: "s").map { "\($0.0)=\($0.1)" } == ["X-Key=s", "X-Org=acme"])
        #expect(throws: ConfigurationError.self) { try ServerAuth.parse(["type": "api_key"]) }
        #expect(redacting(["hunter22"], in: "HTTP 401: bad key hunter22") == "HTTP 401: bad key ***")
    }

    @Test("a credential is never sent over plain http:// unless the config allows it; https:// and no auth need nothing")
    func plainHTTPCredentials() throws {
        let auth = #""auth": {"type": "bearer"}"#
        let error = #expect(throws: ConfigurationError.self) { try HTTPServerConfig.parse(json: #"{"url": "http://10.0.0.5/mcp", \#(auth)}"#) }
        #expect(error?.description.contains("allow_insecure_http") == true)
        #expect(try HTTPServerConfig.parse(json: #"{"url": "http://10.0.0.5/mcp", \#(auth), "allow_insecure_http": true}"#).auth != nil)
        #expect(try HTTPServerConfig.parse(json: #"{"url": "https://mcp.example/mcp", \#(auth)}"#).auth != nil)
        #expect(try HTTPServerConfig.parse(json: #"{"url": "http://10.0.0.5/mcp"}"#).auth == nil)
    }
}
