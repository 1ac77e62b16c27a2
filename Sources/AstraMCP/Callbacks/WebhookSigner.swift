import Crypto
import Foundation

/// Signs callback bodies per the Standard Webhooks specification: `webhook-signature` is `v1,`
/// followed by the base64 HMAC-SHA256, keyed with the secret's bytes, of
/// `<webhook-id>.<webhook-timestamp>.<body>`.
public struct WebhookSigner: Sendable {
    /// The prefix of a signing secret; the rest is the key, base64-encoded.
    public static let secretPrefix = "whsec_"
    private let key: SymmetricKey

    /// - Parameter secret: `whsec_` followed by base64 of at least 16 bytes.
    public init(secret: String) throws(CredentialError) {
        guard secret.hasPrefix(Self.secretPrefix), let bytes = Data(base64Encoded: String(secret.dropFirst(Self.secretPrefix.count))),
            bytes.count >= 16
        else {
            throw CredentialError("a callback signing secret is 'whsec_' followed by base64 of at least 16 bytes")
        }
        key = SymmetricKey(data: bytes)
    }

    /// A new random secret (32 bytes).
    public static func generateSecret() -> String {
        secretPrefix + Data(SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }).base64EncodedString()
    }

    /// The `webhook-signature` header value for one message.
    public func signature(id: String, timestamp: Int, body: String) -> String {
        var mac = HMAC<SHA256>(key: key)
        mac.update(data: Data("\(id).\(timestamp).".utf8))
        mac.update(data: Data(body.utf8))
        return "v1," + Data(mac.finalize()).base64EncodedString()
    }

    /// The three headers of a signed message.
    public func headers(id: String, timestamp: Int, body: String) -> [(name: String, value: String)] {
        [("webhook-id", id), ("webhook-timestamp", String(timestamp)), ("webhook-signature", signature(id: id, timestamp: timestamp, body: body))]
    }
}
