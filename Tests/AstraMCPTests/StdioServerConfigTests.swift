import Testing

@testable import AstraMCP

@Suite("StdioServerConfig")
struct StdioServerConfigTests {
    @Test("parses command, args, env and cwd")
    func parse() throws {
        let config = try StdioServerConfig.parse(
            json: #"{"command":"/usr/bin/mcp","args":["--x","1"],"env":{"TOKEN":"t"},"cwd":"/srv"}"#)
        #expect(config == StdioServerConfig(command: "/usr/bin/mcp", args: ["--x", "1"], env: ["TOKEN": "t"], cwd: "/srv"))
    }

    @Test("only command is required")
    func minimal() throws {
        #expect(try StdioServerConfig.parse(json: #"{"command":"uvx"}"#) == StdioServerConfig(command: "uvx"))
    }

    @Test(
        "a wrong field is named in the error",
        arguments: [
            (#"[1]"#, "not a JSON object"),
            (#"not json"#, "not a JSON object"),
            (#"{}"#, "\"command\""),
            (#"{"command":""}"#, "\"command\""),
            (#"{"command":7}"#, "\"command\""),
            (#"{"command":"x","args":"--flag"}"#, "\"args\""),
            (#"{"command":"x","args":[1,2]}"#, "\"args\""),
            (#"{"command":"x","env":{"A":1}}"#, "\"env\""),
            (#"{"command":"x","cwd":["/"]}"#, "\"cwd\""),
        ])
    func invalid(json: String, field: String) {
        let error = #expect(throws: ConfigurationError.self) { try StdioServerConfig.parse(json: json) }
        #expect(error?.description.contains(field) == true)
    }

    @Test("the child environment holds PATH, HOME, LANG and the configured env, nothing else of the daemon's")
    func childEnvironmentDoesNotLeak() {
        let config = StdioServerConfig(command: "x", env: ["API_KEY": "k", "LANG": "de_DE.UTF-8"])
        let daemon = [
            "PATH": "/opt/bin:/usr/bin",
            "HOME": "/var/lib/astra",
            "LANG": "C.UTF-8",
            "ASTRA_MCPD_DATABASE_URL": "postgres://astra:secret@db/queue",
            "ASTRA_MCPD_MAX_CONCURRENCY": "8",
            "PGPASSWORD": "secret",
            "AWS_SECRET_ACCESS_KEY": "secret",
        ]
        let environment = config.childEnvironment(daemonEnvironment: daemon)
        #expect(environment == ["PATH": "/opt/bin:/usr/bin", "HOME": "/var/lib/astra", "LANG": "de_DE.UTF-8", "API_KEY": "k"])
        #expect(!environment.values.contains { $0.contains("secret") })
    }

    @Test("safe defaults when the daemon has no PATH, HOME or LANG")
    func childEnvironmentDefaults() {
        let environment = StdioServerConfig(command: "x").childEnvironment(daemonEnvironment: [:])
        #expect(environment == ["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/", "LANG": "C.UTF-8"])
    }

    @Test("an env value may name a stored credential; anything else that is not a string is refused, naming the variable")
    func environmentCredentials() throws {
        let config = try StdioServerConfig.parse(json: #"{"command": "n8n-mcp", "env": {"N8N_API_KEY": {"credential": "api_key"}, "MODE": "x"}}"#)
        #expect(config.envCredentials == ["N8N_API_KEY": "api_key"])
        #expect(config.env == ["MODE": "x"])
        for bad in [#"{"credential": "password"}"#, #"{"credential": "api_key", "extra": 1}"#, "42", "[\"a\"]"] {
            let error = #expect(throws: ConfigurationError.self) {
                try StdioServerConfig.parse(json: #"{"command": "n8n-mcp", "env": {"N8N_API_KEY": \#(bad)}}"#)
            }
            #expect(error?.description.contains("N8N_API_KEY") == true, "\(bad)")
        }
    }

    @Test("env may not set variables that make a program load other code", arguments: ["LD_PRELOAD", "LD_LIBRARY_PATH", "NODE_OPTIONS", "PYTHONPATH", "BASH_ENV", "BASH_FUNC_x%%", "PYTHONWARNINGS"])
    func codeLoadingVariables(_ name: String) {
        let error = #expect(throws: ConfigurationError.self) {
            try StdioServerConfig.parse(json: #"{"command": "/opt/mcp/server", "env": {"\#(name)": "x"}}"#)
        }
        #expect(error?.description.contains("may not set \(name)") == true)
        #expect((try? StdioServerConfig.parse(json: #"{"command": "/opt/mcp/server", "env": {"PYTHONUNBUFFERED": "1"}}"#)) != nil)
    }
}
