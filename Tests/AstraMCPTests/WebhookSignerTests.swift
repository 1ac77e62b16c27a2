import Foundation
import Testing

@testable import AstraMCP

/// Standard Webhooks signatures.
@Suite("Webhook signatures")
struct WebhookSignerTests {
    @Test("the Standard Webhooks specification's example signs to its published signature")
    func knownAnswer() throws {
        // From the specification (and what the `standardwebhooks` package computes for it).
        let signer = try WebhookSigner(secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        let signature = signer.signature(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: #"{"test": 2432232314}"#)
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }

    @Test("headers carry the id, the timestamp and the signature; any change to the body changes the signature")
    func headers() throws {
        let signer = try WebhookSigner(secret: WebhookSigner.generateSecret())
        let headers = signer.headers(id: "abc", timestamp: 42, body: "{}")
        #expect(headers.map(\.name) == ["webhook-id", "webhook-timestamp", "webhook-signature"])
        #expect(headers[0].value == "abc" && headers[1].value == "42")
        #expect(headers[2].value.hasPrefix("v1,"))
        #expect(signer.signature(id: "abc", timestamp: 42, body: "{ }") != headers[2].value)
        #expect(signer.signature(id: "abd", timestamp: 42, body: "{}") != headers[2].value)
    }

    @Test("a malformed secret is refused with a message that does not repeat it", arguments: ["", "whsec_", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!", "whsec_c2hvcnQ="])
    func malformed(_ secret: String) {
        let error = #expect(throws: CredentialError.self) { try WebhookSigner(secret: secret) }
        #expect(error?.description.contains("whsec_") == true)
        if secret.count > 8 { #expect(error?.description.contains(secret) == false) }
    }

    @Test("generated secrets are whsec_ and 32 random bytes, different each time")
    func generated() throws {
        let a = WebhookSigner.generateSecret()
        #expect(a.hasPrefix("whsec_"))
        #expect(Data(base64Encoded: String(a.dropFirst(6)))?.count == 32)
        #expect(a != WebhookSigner.generateSecret())
        _ = try WebhookSigner(secret: a)
    }
}
