import Crypto
import Foundation
import Testing
import _CryptoExtras

@testable import AstraMCP

@Suite("private_key_jwt client assertion")
struct ClientAssertionTests {
    static func decode(_ part: Substring) throws -> Data {
        var text = part.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        return try #require(Data(base64Encoded: text))
    }

    @Test("an ES256 JWT: iss = sub = client_id, aud = the token endpoint, jti, iat, exp; the signature verifies")
    func shape() throws {
        let key = P256.Signing.PrivateKey()
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let jwt = try ClientAssertion(clientID: "astra-client", audience: "https://as.example.com/token")
            .signed(privateKeyPEM: key.pemRepresentation, algorithm: .es256, now: now, jti: "jti-1")
        let parts = jwt.split(separator: ".", omittingEmptySubsequences: false)
        #expect(parts.count == 3)
        #expect(!jwt.contains("="), "base64url without padding")
        let header = try #require(try JSONSerialization.jsonObject(with: Self.decode(parts[0])) as? [String: Any])
        #expect(header["alg"] as? String == "ES256")
        #expect(header["typ"] as? String == "JWT")
        let claims = try #require(try JSONSerialization.jsonObject(with: Self.decode(parts[1])) as? [String: Any])
        #expect(claims["iss"] as? String == "astra-client")
        #expect(claims["sub"] as? String == "astra-client")
        #expect(claims["aud"] as? String == "https://as.example.com/token")
        #expect(claims["jti"] as? String == "jti-1")
        #expect(claims["iat"] as? Int == 1_800_000_000)
        #expect(claims["exp"] as? Int == 1_800_000_060)
        let signature = try P256.Signing.ECDSASignature(rawRepresentation: Self.decode(parts[2]))
        #expect(key.publicKey.isValidSignature(signature, for: Data((parts[0] + "." + parts[1]).utf8)))
        #expect(!P256.Signing.PrivateKey().publicKey.isValidSignature(signature, for: Data((parts[0] + "." + parts[1]).utf8)))
    }

    @Test("an RS256 JWT (PKCS #1 v1.5, SHA-256) verifies with the public key")
    func rs256() throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let jwt = try ClientAssertion(clientID: "c", audience: "https://as/token").signed(privateKeyPEM: key.pemRepresentation, algorithm: .rs256)
        let parts = jwt.split(separator: ".", omittingEmptySubsequences: false)
        let header = try #require(try JSONSerialization.jsonObject(with: Self.decode(parts[0])) as? [String: Any])
        #expect(header["alg"] as? String == "RS256")
        let signature = _RSA.Signing.RSASignature(rawRepresentation: try Self.decode(parts[2]))
        #expect(key.publicKey.isValidSignature(signature, for: Data((parts[0] + "." + parts[1]).utf8), padding: .insecurePKCS1v1_5))
        #expect {
            try ClientAssertion(clientID: "c", audience: "a").signed(privateKeyPEM: P256.Signing.PrivateKey().pemRepresentation, algorithm: .rs256)
        } throws: { ($0 as? MCPSessionError)?.code == .misconfigured }
    }

    @Test("each assertion has a jti of its own")
    func freshJTI() throws {
        let key = P256.Signing.PrivateKey()
        let assertion = ClientAssertion(clientID: "c", audience: "https://as/token")
        let a = try assertion.signed(privateKeyPEM: key.pemRepresentation, algorithm: .es256)
        let b = try assertion.signed(privateKeyPEM: key.pemRepresentation, algorithm: .es256)
        #expect(a.split(separator: ".")[1] != b.split(separator: ".")[1])
    }

    @Test("a key that is not a P-256 PEM: misconfigured, and the message does not show it")
    func badKey() {
        let pem = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END PRIVATE KEY-----"
        #expect {
            try ClientAssertion(clientID: "c", audience: "https://as/token").signed(privateKeyPEM: pem, algorithm: .es256)
        } throws: { error in
            let error = error as? MCPSessionError
            return error?.code == .misconfigured && error?.message.contains("bm90") == false
        }
    }
}
