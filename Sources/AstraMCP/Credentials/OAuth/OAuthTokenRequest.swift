import Foundation

/// A client credentials token request (RFC 6749 §4.4.2) with the RFC 8707 `resource`, and the
/// reading of its answer (§5.1, §5.2).
struct OAuthTokenRequest: Sendable, Equatable {
    /// The form fields, in order.
    var form: [(String, String)]
    /// Extra headers (`Authorization: Basic …` for `client_secret_basic`).
    var headers: [(String, String)]

    static func == (a: Self, b: Self) -> Bool {
        a.form.elementsEqual(b.form, by: ==) && a.headers.elementsEqual(b.headers, by: ==)
    }

    /// What the client authenticates with.
    enum ClientCredential: Sendable {
        case secret(String)
        case privateKey(pem: String, algorithm: OAuthClientCredentialsConfig.SigningAlgorithm)
    }

    /// The request for a token for `resource` with `scope`, authenticated by `method`.
    static func make(
        clientID: String, method: OAuthClientCredentialsConfig.AuthMethod, credential: ClientCredential, tokenEndpoint: String,
        resource: String, scope: String?, now: Date = Date()
    ) throws(MCPSessionError) -> OAuthTokenRequest {
        var form = [("grant_type", "client_credentials"), ("resource", resource)]
        if let scope, !scope.isEmpty { form.append(("scope", scope)) }
        var headers: [(String, String)] = []
        switch (method, credential) {
        case (.clientSecretBasic, .secret(let secret)):
            // Each part is form-encoded before the two are joined (RFC 6749 §2.3.1).
            let pair = formEncode(clientID) + ":" + formEncode(secret)
            headers.append(("Authorization", "Basic " + Data(pair.utf8).base64EncodedString()))
        case (.clientSecretPost, .secret(let secret)):
            form += [("client_id", clientID), ("client_secret", secret)]
        case (.privateKeyJWT, .privateKey(let pem, let algorithm)):
            let assertion = try ClientAssertion(clientID: clientID, audience: tokenEndpoint).signed(privateKeyPEM: pem, algorithm: algorithm, now: now)
            form += [("client_id", clientID), ("client_assertion_type", ClientAssertion.type), ("client_assertion", assertion)]
        default:
            throw MCPSessionError(.misconfigured, "auth method \(method.rawValue) needs the \(method.credentialType) credential")
        }
        return OAuthTokenRequest(form: form, headers: headers)
    }

    /// The `application/x-www-form-urlencoded` body.
    var body: String { form.map { formEncode($0.0) + "=" + formEncode($0.1) }.joined(separator: "&") }

    /// Form encoding (HTML's urlencoded serializer): unreserved characters as they are, space
    /// as `+`, everything else percent-encoded.
    static func formEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "*"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: " "):
                out += "+"
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
    private func formEncode(_ text: String) -> String { Self.formEncode(text) }

    /// A successful answer: the token and how long it lives.
    struct Token: Sendable, Equatable {
        var accessToken: String
        /// nil when the server did not say (RFC 6749 §5.1 makes `expires_in` recommended only).
        var expiresIn: Duration?
        /// The scope granted, when it differs from the one asked for (or the server says anyway).
        var scope: String?
    }

    /// Reads the token endpoint's answer.
    /// - Throws: ``MCPSessionError``: `misconfigured` for a refusal that retrying will not
    ///   change (a wrong secret, an unknown client or scope), `disconnected` for an
    ///   unavailable server. Messages carry the RFC 6749 `error` and `error_description`.
    static func parseResponse(status: UInt, body: Data, tokenEndpoint: String) throws(MCPSessionError) -> Token {
        let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any]
        guard status == 200 else {
            var reason = "HTTP \(status)"
            if let error = object?["error"] as? String {
                reason += " \(error.prefix(64))"
                if let description = object?["error_description"] as? String { reason += ": \(description.prefix(200))" }
            }
            let code: MCPSessionError.Code = status >= 500 || status == 429 ? .disconnected : .misconfigured
            throw MCPSessionError(code, "the authorization server's token endpoint \(tokenEndpoint) refused the client credentials grant (\(reason))")
        }
        guard let object, let token = object["access_token"] as? String, !token.isEmpty else {
            throw MCPSessionError(.misconfigured, "the token endpoint \(tokenEndpoint) answered without an access_token")
        }
        let type = (object["token_type"] as? String) ?? ""
        guard type.lowercased() == "bearer" else {
            throw MCPSessionError(.misconfigured, "the token endpoint \(tokenEndpoint) issued a token of type '\(type.prefix(32))', not Bearer")
        }
        let seconds = (object["expires_in"] as? NSNumber)?.doubleValue ?? (object["expires_in"] as? String).flatMap(Double.init)
        return Token(
            accessToken: token, expiresIn: seconds.flatMap { $0 > 0 ? .milliseconds(Int64(min($0, 1e9) * 1000)) : nil },
            scope: object["scope"] as? String)
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
