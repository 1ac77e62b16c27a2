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
        _ = try CredentialKeyring.generateKey(in: directory)
        let rotated = try CredentialKeyring.load(directory: directory)
        #expect(rotated.newestKeyID != old.newestKeyID)
        #expect(try rotated.open(sealedOld, serverID: server, credentialType: "custom") == "s")
        #expect(CredentialKeyring.keyID(of: try rotated.seal("s", serverID: server, credentialType: "custom")) == rotated.newestKeyID)
    }

    @Test("the newest key is the latest created, by its header or else its file time, not the greatest id")
    func newestByCreation() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("astra-keys-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func write(_ name: String, _ text: String, modified: Date? = nil) {
            let path = directory + "/" + name + ".key"
            FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
            if let modified { try? FileManager.default.setAttributes([.modificationDate: modified], ofItemAtPath: path) }
        }
        let key = { Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString() }
        // "zeta" sorts last but was created first; "alpha" is the newest.
        write("zeta", "# astra-mcpd credential key, created 2026-01-01T00:00:00.000Z\n\(key())\n")
        write("alpha", "# astra-mcpd credential key, created 2026-06-01T00:00:00.000Z\n\(key())\n")
        #expect(try CredentialKeyring.load(directory: directory).newestKeyID == "alpha")
        // A file without a header counts from its modification time.
        write("legacy", key(), modified: Date(timeIntervalSince1970: 1_900_000_000))
        #expect(try CredentialKeyring.load(directory: directory).newestKeyID == "legacy")
        // A generated key comes after all of them, whatever the clock says.
        let generated = try CredentialKeyring.generateKey(in: directory)
        #expect(try CredentialKeyring.load(directory: directory).newestKeyID == generated)
        write("broken", "# astra-mcpd credential key, created yesterday\n\(key())\n")
        #expect(throws: CredentialError.self) { try CredentialKeyring.load(directory: directory) }
    }

    @Test("a key file open to others, or another user's, is refused, naming the file")
    func keyFilePermissions() throws {
        let directory = try keyDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/" + (try FileManager.default.contentsOfDirectory(atPath: directory).first!)
        for mode in [0o644, 0o604, 0o660, 0o620] {
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
            do {
                _ = try CredentialKeyring.load(directory: directory)
                Issue.record("mode \(String(mode, radix: 8)) was accepted")
            } catch {
                #expect(error.description.contains(path) && error.description.contains("chmod 600"), "\(error)")
            }
        }
        for mode in [0o600, 0o400, 0o640] {
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
            #expect(throws: Never.self, "mode \(String(mode, radix: 8))") { try CredentialKeyring.load(directory: directory) }
        }
        // Another user's file (only root can hand one over, as the tests run).
        guard geteuid() == 0 else { return }
        #expect(chown(path, 65534, 65534) == 0)
        do {
            _ = try CredentialKeyring.load(directory: directory)
            Issue.record("a file of uid 65534 was accepted")
        } catch {
            #expect(error.description.contains("belongs to uid 65534"), "\(error)")
        }
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
