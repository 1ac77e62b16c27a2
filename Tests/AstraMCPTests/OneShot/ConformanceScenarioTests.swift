import Foundation
import Testing

@testable import AstraMCP

@Suite("Conformance scenarios of astra-mcpd call")
struct ConformanceScenarioTests {
    @Test("no MCP_CONFORMANCE_SCENARIO: no scenario; an unknown one or an unspoken revision: a usage error")
    func environment() throws {
        #expect(try ConformanceScenario(environment: [:]) == nil)
        #expect(try ConformanceScenario(environment: ["MCP_CONFORMANCE_SCENARIO": "tools_call", "MCP_CONFORMANCE_PROTOCOL_VERSION": "2025-11-25"])?.name == "tools_call")
        #expect(throws: OneShotError.self) { try ConformanceScenario(environment: ["MCP_CONFORMANCE_SCENARIO": "elicitation-sep1034-client-defaults"]) }
        #expect(throws: OneShotError.self) {
            try ConformanceScenario(environment: ["MCP_CONFORMANCE_SCENARIO": "initialize", "MCP_CONFORMANCE_PROTOCOL_VERSION": "2026-07-28"])
        }
    }

    @Test("an auth scenario's server gets the context's client credentials; plain http only to loopback")
    func clientCredentials() throws {
        let context = #"{"name":"auth/client-credentials-jwt","client_id":"c1","private_key_pem":"PEM","signing_algorithm":"ES256"}"#
        let scenario = try #require(
            try ConformanceScenario(environment: ["MCP_CONFORMANCE_SCENARIO": "auth/client-credentials-jwt", "MCP_CONFORMANCE_CONTEXT": context]))
        let server = try scenario.server(url: "http://localhost:3000/mcp")
        guard case .streamableHTTP(let config) = try TransportConfig.parse(server.descriptor) else {
            Issue.record("not a Streamable HTTP server: \(server.descriptor.configJSON)")
            return
        }
        #expect(config.allowInsecureHTTP)
        #expect(config.auth?.oauthClientCredentials?.clientID == "c1")
        #expect(config.auth?.oauthClientCredentials?.authMethod == .privateKeyJWT)
        #expect(config.auth?.credentialType == "oauth_private_key")

        // A secret never goes over plain http:// to another host, whatever the runner says.
        #expect(throws: OneShotError.self) { try scenario.server(url: "http://mcp.example.com/mcp") }
        let missing = try #require(try ConformanceScenario(environment: ["MCP_CONFORMANCE_SCENARIO": "auth/client-credentials-basic"]))
        #expect(throws: OneShotError.self) { try missing.server(url: "http://localhost:3000/mcp") }
    }
}
