import Foundation
import Testing

@testable import AstraMCP

/// `astra-mcpd call` driven as the official MCP conformance runner drives a client: through a
/// shell, `<command> <server-url>`, with `MCP_CONFORMANCE_SCENARIO` set, against servers shaped
/// like the runner's scenario servers.
extension CallCommandTests {
    /// The command line the README gives for the runner's `--command`; the runner appends the URL.
    var runnerCommand: String { "ASTRA_MCPD_NETWORK_ALLOW=127.0.0.0/8,::1/128 \(TestPaths.daemon) call" }

    /// Runs `sh -c "<runnerCommand> <url>"` as the runner does (Node's `spawn` with `shell: true`),
    /// in an environment without the tests' own network allowance.
    func runAsConformanceRunner(scenario: String, url: String, context: String? = nil) async throws -> Run {
        var environment = ["MCP_CONFORMANCE_SCENARIO": scenario, "MCP_CONFORMANCE_PROTOCOL_VERSION": "2025-11-25", "ASTRA_MCPD_NETWORK_ALLOW": ""]
        if let context { environment["MCP_CONFORMANCE_CONTEXT"] = context }
        return try await call([], environment: environment, wrapper: ["/bin/sh", "-c", "\(runnerCommand) \(url)"])
    }

    @Test("conformance scenarios initialize, tools_call and json-schema-2020-12-preservation: the requests each expects")
    func conformanceRunner() async throws {
        let fixture = PythonFixture(recordPrefix: "conformance")
        defer { fixture.stop() }
        try await fixture.start("conformance_server.py", ["\(fixture.port)", "--record", fixture.record])
        let url = "http://127.0.0.1:\(fixture.port)/mcp"
        var seen = 0
        /// The requests the fixture recorded since the last look.
        func newRequests() -> [[String: Any]] {
            let all = fixture.objects("request-")
            defer { seen = all.count }
            return Array(all.dropFirst(seen))
        }

        let initialize = try await runAsConformanceRunner(scenario: "initialize", url: url)
        #expect(initialize.code == 0, "\(initialize.stderr)")
        var requests = newRequests()
        let first = try #require(requests.first)
        #expect(first["method"] as? String == "initialize")
        let params = try #require(first["params"] as? [String: Any])
        #expect(params["protocolVersion"] as? String == "2025-11-25")
        #expect((params["clientInfo"] as? [String: Any])?["name"] as? String == "astra-mcpd")
        #expect(requests.contains { $0["method"] as? String == "notifications/initialized" })
        #expect(!requests.contains { ($0["method"] as? String)?.hasPrefix("tools/") == true }, "initialize asks for nothing more")
        #expect(requests.contains { $0["http"] as? String == "DELETE" }, "the session is ended")

        let toolsCall = try await runAsConformanceRunner(scenario: "tools_call", url: url)
        #expect(toolsCall.code == 0, "\(toolsCall.stderr)")
        #expect(toolsCall.stdout.contains("The sum of 2 and 3 is 5"), "\(toolsCall.stdout)")
        requests = newRequests()
        #expect(requests.contains { $0["method"] as? String == "tools/list" })
        let call = try #require(requests.first { $0["method"] as? String == "tools/call" })
        let arguments = try #require((call["params"] as? [String: Any])?["arguments"] as? [String: Any])
        #expect((call["params"] as? [String: Any])?["name"] as? String == "add_numbers")
        #expect(arguments["a"] as? Int == 2 && arguments["b"] as? Int == 3, "\(arguments)")
        #expect(call["protocol_version"] as? String == "2025-11-25", "MCP-Protocol-Version goes with every request after initialize")

        let preservation = try await runAsConformanceRunner(scenario: "json-schema-2020-12-preservation", url: url)
        #expect(preservation.code == 0, "\(preservation.stderr)")
        let echo = try #require(newRequests().first { ($0["params"] as? [String: Any])?["name"] as? String == "json_schema_echo" })
        let echoed = try #require(((echo["params"] as? [String: Any])?["arguments"] as? [String: Any])?["schema"] as? [String: Any])
        #expect(echoed["$schema"] as? String == "https://json-schema.org/draft/2020-12/schema")
        #expect(echoed["additionalProperties"] as? Bool == false)
        #expect(((echoed["$defs"] as? [String: Any])?["address"] as? [String: Any])?["$anchor"] as? String == "addressDef")
        #expect(echoed["allOf"] != nil && echoed["if"] != nil && echoed["then"] != nil && echoed["else"] != nil, "\(echoed)")
    }

    @Test("conformance scenario sse-retry: the cut reply is resumed with GET and Last-Event-ID after the retry time")
    func conformanceSSERetry() async throws {
        let fixture = PythonFixture(recordPrefix: "sse-retry")
        defer { fixture.stop() }
        try await fixture.start("sse_retry_server.py", ["\(fixture.port)", "--record", fixture.record])
        let run = try await runAsConformanceRunner(scenario: "sse-retry", url: "http://127.0.0.1:\(fixture.port)/mcp")
        #expect(run.code == 0, "\(run.stderr)")
        #expect(run.stdout.contains("Reconnection test completed successfully"), "\(run.stdout)")
        let events = fixture.objects("event-")
        let closed = try #require(events.first { $0["what"] as? String == "close" }?["t"] as? Double)
        let resumed = try #require(events.first { $0["what"] as? String == "get" && $0["last_event_id"] is String }, "\(events)")
        let delay = try #require(resumed["t"] as? Double) - closed
        #expect(delay >= 450, "reconnected \(delay) ms after the stream closed, before its retry: 500")
        #expect(resumed["last_event_id"] as? String != "")
    }

    @Test("conformance scenario auth/client-credentials-basic: a token from the context's client, then tools/list with it")
    func conformanceClientCredentials() async throws {
        let client = OAuthFixtures.Client(id: "conformance-test-client", method: "client_secret_basic", secret: "conformance-test-secret")
        try await OAuthFixtures.with(clients: [client], authArguments: ["--auth-methods", "client_secret_basic"]) { oauth in
            let context = #"{"name": "auth/client-credentials-basic", "client_id": "conformance-test-client", "client_secret": "conformance-test-secret"}"#
            let run = try await runAsConformanceRunner(scenario: "auth/client-credentials-basic", url: oauth.mcpURL, context: context)
            #expect(run.code == 0, "\(run.stderr)")
            #expect(!run.stdout.contains("conformance-test-secret") && !run.stderr.contains("conformance-test-secret"))
            let tokens = oauth.tokenRequests
            #expect(tokens.count == 1, "\(tokens)")
            #expect(tokens.first?["client_id"] as? String == "conformance-test-client", "\(tokens)")
            #expect(tokens.first?["auth_method"] as? String == "client_secret_basic" && tokens.first?["status"] as? Int == 200, "\(tokens)")
            #expect(oauth.unauthorized.count == 1, "one 401 starts discovery, then every request carries the token")
        }
    }

    @Test("a conformance scenario astra-mcpd does not play exits 2, saying which it plays")
    func unsupportedScenario() async throws {
        let run = try await runAsConformanceRunner(scenario: "auth/metadata-default", url: "http://127.0.0.1:9/mcp")
        #expect(run.code == 2)
        #expect(run.stderr.contains("conformance scenario 'auth/metadata-default' is not one astra-mcpd call plays"), "\(run.stderr)")
    }
}
