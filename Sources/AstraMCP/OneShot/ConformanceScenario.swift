import Foundation

/// What a client scenario of the official MCP conformance runner (`@modelcontextprotocol/conformance`)
/// expects the client to do, so that the runner can drive `astra-mcpd call`.
///
/// The runner starts `<command> <server-url>` through a shell, with `MCP_CONFORMANCE_SCENARIO`
/// naming the scenario, `MCP_CONFORMANCE_PROTOCOL_VERSION` the revision it targets, and for a
/// scenario that hands out credentials, `MCP_CONFORMANCE_CONTEXT` (a JSON object). Its servers
/// listen on localhost over plain http. Every scenario starts with initialize; then:
/// - `initialize`: nothing more;
/// - `tools_call`: `tools/list`, then `add_numbers` with `{"a": 2, "b": 3}`;
/// - `sse-retry`: `tools/list`, then `test_reconnection`, whose reply stream the server cuts after a
///   priming event: the transport resumes it with GET and `Last-Event-ID` after the `retry` time;
/// - `json-schema-2020-12-preservation`: `tools/list`, then `json_schema_echo` with
///   `{"schema": <json_schema_2020_12_tool's inputSchema, verbatim>}`;
/// - `auth/client-credentials-basic` and `auth/client-credentials-jwt`: `tools/list`, with tokens of
///   the OAuth client credentials grant (`client_secret_basic`, `private_key_jwt`) from the
///   context's `client_id` and `client_secret` or `private_key_pem`.
public struct ConformanceScenario: Sendable {
    public var name: String
    /// The context's string members.
    var context: [String: String]

    public static let scenarioVariable = "MCP_CONFORMANCE_SCENARIO"
    public static let supported = [
        "initialize", "tools_call", "sse-retry", "json-schema-2020-12-preservation", "auth/client-credentials-basic", "auth/client-credentials-jwt",
    ]

    /// The scenario `environment` names; nil outside a conformance run.
    /// - Throws: ``OneShotError`` (`usage`) for a scenario or protocol revision astra-mcpd does not take on.
    public init?(environment: [String: String]) throws(OneShotError) {
        guard let name = environment[Self.scenarioVariable], !name.isEmpty else { return nil }
        guard Self.supported.contains(name) else {
            throw OneShotError(.usage, "conformance scenario '\(name)' is not one astra-mcpd call plays (it plays \(Self.supported.joined(separator: ", ")))")
        }
        if let version = environment["MCP_CONFORMANCE_PROTOCOL_VERSION"], !version.isEmpty, !MCPProtocol.supportedVersions.contains(version) {
            throw OneShotError(.usage, "conformance protocol version \(version) is not one astra-mcpd speaks (\(MCPProtocol.supportedVersions.sorted().joined(separator: ", ")))")
        }
        self.name = name
        let object = environment["MCP_CONFORMANCE_CONTEXT"].flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] } ?? [:]
        context = object.compactMapValues { $0 as? String }
    }

    /// The scenario's server at `url`; for an auth scenario, with the context's client credentials.
    public func server(url: String) throws(OneShotError) -> OneShotServer {
        guard name.hasPrefix("auth/client-credentials-") else { return try .url(url) }
        let jwt = name == "auth/client-credentials-jwt"
        guard let clientID = context["client_id"], let secret = context[jwt ? "private_key_pem" : "client_secret"] else {
            throw OneShotError(.usage, "MCP_CONFORMANCE_CONTEXT lacks client_id or \(jwt ? "private_key_pem" : "client_secret") for \(name)")
        }
        var auth: [String: Any] = [
            "type": "oauth_client_credentials", "client_id": clientID, "auth_method": jwt ? "private_key_jwt" : "client_secret_basic",
        ]
        if jwt { auth["signing_algorithm"] = context["signing_algorithm"] ?? "ES256" }
        // The runner's servers are on localhost over plain http; a credential goes nowhere else so.
        let loopback = ["localhost", "127.0.0.1", "::1", "[::1]"].contains(URLComponents(string: url)?.host ?? "")
        let descriptor = try OneShotServer.descriptor(name: url, type: "http", config: ["url": url, "auth": auth, "allow_insecure_http": loopback])
        return OneShotServer(descriptor: descriptor, credentials: { _, _ in StoredSecret(secret: secret) }, fallsBackToLegacySSE: true)
    }

    /// Makes the scenario's requests on `session`; returns the outcome of each call.
    public func run(on session: OneShotSession) async throws(OneShotError) -> [CallOutcome] {
        guard name != "initialize" else { return [] }
        let tools = try await session.listTools()
        func call(_ tool: String, _ argumentsJSON: String) async throws(OneShotError) -> [CallOutcome] {
            guard let listed = tools.first(where: { $0.name == tool }) else {
                throw OneShotError(.requestFailed, "the \(name) scenario's server does not list the tool '\(tool)'")
            }
            return [try await session.call(tool, argumentsJSON: argumentsJSON, tool: listed)]
        }
        switch name {
        case "tools_call":
            return try await call("add_numbers", #"{"a":2,"b":3}"#)
        case "sse-retry":
            return try await call("test_reconnection", "{}")
        case "json-schema-2020-12-preservation":
            guard let focal = tools.first(where: { $0.name == "json_schema_2020_12_tool" }) else {
                throw OneShotError(.requestFailed, "the \(name) scenario's server does not list the tool 'json_schema_2020_12_tool'")
            }
            return try await call("json_schema_echo", #"{"schema":"# + focal.inputSchemaJSON + "}")
        default:
            return []  // the auth scenarios: tools/list with a token was the point
        }
    }
}
