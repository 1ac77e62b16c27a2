import Testing

@testable import AstraMCP

@Suite("WWW-Authenticate challenge parser")
struct AuthChallengeTests {
    @Test("a Bearer challenge with quoted-strings holding commas, spaces and escapes")
    func quotedStrings() {
        let challenges = AuthChallenge.parse([
            #"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="files:read, files:write admin", error_description="say \"no\", twice""#
        ])
        #expect(challenges.count == 1)
        #expect(challenges.first?.scheme == "bearer")
        #expect(challenges.first?.parameters["resource_metadata"] == "https://mcp.example.com/.well-known/oauth-protected-resource/mcp")
        #expect(challenges.first?.parameters["scope"] == "files:read, files:write admin")
        #expect(challenges.first?.parameters["error_description"] == #"say "no", twice"#)
    }

    @Test("several schemes in one value and across values; token68; names and schemes case-insensitive")
    func severalSchemes() {
        let challenges = AuthChallenge.parse([
            #"Basic realm="simple, really", Negotiate abc+/de==, DPoP algs="ES256 PS256""#,
            #"BEARER Error=insufficient_scope , Scope = "mcp:admin""#,
        ])
        #expect(challenges.map(\.scheme) == ["basic", "negotiate", "dpop", "bearer"])
        #expect(challenges[0].parameters == ["realm": "simple, really"])
        #expect(challenges[1].token68 == "abc+/de==")
        #expect(challenges[2].parameters["algs"] == "ES256 PS256")
        #expect(challenges[3].parameters == ["error": "insufficient_scope", "scope": "mcp:admin"])
        let bearer = BearerChallenge(headerValues: [
            #"Basic realm="simple, really", Negotiate abc+/de==, DPoP algs="ES256 PS256""#,
            #"BEARER Error=insufficient_scope , Scope = "mcp:admin""#,
        ])
        #expect(bearer == BearerChallenge(scope: "mcp:admin", error: "insufficient_scope"))
    }

    @Test("schemes without parameters, empty list elements, and a bare Bearer")
    func bareSchemes() {
        let challenges = AuthChallenge.parse(["Basic, , Bearer"])
        #expect(challenges.map(\.scheme) == ["basic", "bearer"])
        #expect(challenges.allSatisfy { $0.parameters.isEmpty && $0.token68 == nil })
        #expect(BearerChallenge(headerValues: ["Bearer"]) == BearerChallenge())
        #expect(BearerChallenge(headerValues: [#"Basic realm="x""#]) == nil)
        #expect(BearerChallenge(headerValues: []) == nil)
    }

    @Test("a broken value keeps the challenges before the break")
    func broken() {
        let challenges = AuthChallenge.parse([#"Bearer scope="mcp:tools", error="unterminated"#])
        #expect(challenges.map(\.scheme) == ["bearer"])
        #expect(challenges[0].parameters["scope"] == "mcp:tools")
    }
}
