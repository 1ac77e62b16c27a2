import Crypto
import _CryptoExtras
import Foundation

/// A `private_key_jwt` client assertion (RFC 7523 §2.2, OpenID Connect Core §9): a JWT signed
/// with the client's private key, naming the client as `iss` and `sub` and the token endpoint
/// as `aud`, with a fresh `jti` and a short life.
struct ClientAssertion: Sendable {
    /// The `client_assertion_type` that goes with it.
    static let type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

    var clientID: String
    var audience: String
    /// How long the assertion is valid: it is used at once, so a minute covers clock skew.
    var lifetime: TimeInterval = 60

    /// The compact JWS, signed with `privateKeyPEM` (a PEM private key of the algorithm's kind).
    /// - Throws: ``MCPSessionError`` (`misconfigured`) when the key cannot be read; the message
    ///   never contains the key.
    func signed(
        privateKeyPEM: String, algorithm: OAuthClientCredentialsConfig.SigningAlgorithm, now: Date = Date(), jti: String = UUID().uuidString
    ) throws(MCPSessionError) -> String {
        switch algorithm {
        case .es256:
            let key: P256.Signing.PrivateKey
            do {
                key = try P256.Signing.PrivateKey(pemRepresentation: privateKeyPEM)
            } catch {
                throw MCPSessionError(.misconfigured, "the oauth_private_key credential is not a PEM P-256 (ES256) private key")
            }
            let input = signingInput(algorithm: "ES256", now: now, jti: jti)
            let signature: P256.Signing.ECDSASignature
            do {
                signature = try key.signature(for: Data(input.utf8))
            } catch {
                throw MCPSessionError(.misconfigured, "signing the client assertion failed: \(error)")
            }
            // JWS wants ECDSA signatures as R || S (RFC 7518 §3.4), which is the raw form.
            return input + "." + Self.base64URL(signature.rawRepresentation)
        case .rs256:
            let key: _RSA.Signing.PrivateKey
            do {
                key = try _RSA.Signing.PrivateKey(pemRepresentation: privateKeyPEM)
            } catch {
                throw MCPSessionError(.misconfigured, "the oauth_private_key credential is not a PEM RSA (RS256) private key of 2048 bits or more")
            }
            let input = signingInput(algorithm: "RS256", now: now, jti: jti)
            do {
                // RS256 is PKCS #1 v1.5 over SHA-256 (RFC 7518 §3.3); the name warns against it
                // for new designs, but it is what the algorithm is.
                let signature = try key.signature(for: Data(input.utf8), padding: .insecurePKCS1v1_5)
                return input + "." + Self.base64URL(signature.rawRepresentation)
            } catch {
                throw MCPSessionError(.misconfigured, "signing the client assertion failed: \(error)")
            }
        }
    }

    /// `base64url(header).base64url(claims)`.
    func signingInput(algorithm: String, now: Date, jti: String) -> String {
        let issuedAt = Int(now.timeIntervalSince1970)
        let header = #"{"alg":"\#(algorithm)","typ":"JWT"}"#
        let claims =
            #"{"iss":\#(JSONScanner.quote(clientID)),"sub":\#(JSONScanner.quote(clientID)),"aud":\#(JSONScanner.quote(audience)),"#
            + #""jti":\#(JSONScanner.quote(jti)),"iat":\#(issuedAt),"exp":\#(issuedAt + Int(lifetime))}"#
        return Self.base64URL(Data(header.utf8)) + "." + Self.base64URL(Data(claims.utf8))
    }

    /// Base64url without padding (RFC 7515 §2).
    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
