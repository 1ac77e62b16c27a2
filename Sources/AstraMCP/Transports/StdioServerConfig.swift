import Foundation

/// How to start a stdio MCP server, from `mcp_servers.config`:
/// `{"command": "...", "args": [...], "env": {...}, "cwd": "..."}`.
///
/// A value in `env` is a string, or `{"credential": "<credential_type>"}`: the server's stored
/// credential of that type, decrypted only into the child's environment (and redacted from its
/// stderr and error text before anything is stored).
public struct StdioServerConfig: Sendable, Equatable {
    public var command: String
    public var args: [String]
    public var env: [String: String]
    /// Variables whose value is a stored credential: name → `credential_type`.
    public var envCredentials: [String: String] = [:]
    public var cwd: String?

    public init(command: String, args: [String] = [], env: [String: String] = [:], cwd: String? = nil) {
        self.command = command
        self.args = args
        self.env = env
        self.cwd = cwd
    }

    /// Parses the `config` column; the error says which field is wrong.
    public static func parse(json: String) throws(ConfigurationError) -> StdioServerConfig {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
            throw ConfigurationError("server config is not a JSON object")
        }
        guard let command = object["command"] as? String, !command.isEmpty else {
            throw ConfigurationError("server config needs \"command\": a non-empty string")
        }
        var config = StdioServerConfig(command: command)
        if let args = object["args"] {
            guard let strings = args as? [String] else { throw ConfigurationError("server config \"args\" must be an array of strings") }
            config.args = strings
        }
        if let env = object["env"] {
            guard let values = env as? [String: Any] else {
                throw ConfigurationError("server config \"env\" must be an object")
            }
            for (name, value) in values {
                if let refusal = Self.refusedVariable(name) { throw ConfigurationError(refusal) }
                if let string = value as? String {
                    config.env[name] = string
                } else if let reference = value as? [String: Any], reference.count == 1, let type = reference["credential"] as? String,
                    Self.credentialTypes.contains(type)
                {
                    config.envCredentials[name] = type
                } else {
                    throw ConfigurationError(
                        "server config \"env\" value of \(name) must be a string or {\"credential\": \"api_key|oauth_token|basic_auth|custom\"}")
                }
            }
        }
        if let cwd = object["cwd"] {
            guard let path = cwd as? String else { throw ConfigurationError("server config \"cwd\" must be a string") }
            config.cwd = path
        }
        return config
    }

    static let credentialTypes: Set<String> = ["api_key", "oauth_token", "basic_auth", "custom"]

    /// Variables that make a program load or run other code than its own: whoever writes a
    /// server row could otherwise get round `stdio_commands` with an allowed program.
    static let codeLoadingVariables: Set<String> = [
        "BASH_ENV", "ENV", "SHELLOPTS", "PS4", "BROWSER", "GCONV_PATH", "NODE_OPTIONS", "NODE_PATH", "PYTHONPATH", "PYTHONHOME",
        "PYTHONSTARTUP", "PYTHONWARNINGS", "PYTHONINSPECT", "PERL5LIB", "PERL5OPT", "PERLLIB", "RUBYOPT", "RUBYLIB",
        "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS",
    ]
    static let codeLoadingPrefixes = ["LD_", "DYLD_", "BASH_FUNC_"]

    /// Why `env` may not set `name`, or nil.
    static func refusedVariable(_ name: String) -> String? {
        guard codeLoadingVariables.contains(name) || codeLoadingPrefixes.contains(where: name.hasPrefix) else { return nil }
        return "server config \"env\" may not set \(name): it makes the program load other code (stdio_commands could not vouch for what runs)"
    }

    /// The child's whole environment: PATH, HOME and LANG (from the daemon, or safe defaults)
    /// and the configured `env` — never the daemon's own variables, which hold its database URL
    /// and keys.
    func childEnvironment(daemonEnvironment: [String: String]) -> [String: String] {
        var environment: [String: String] = [
            "PATH": daemonEnvironment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin",
            "HOME": daemonEnvironment["HOME"] ?? "/",
            "LANG": daemonEnvironment["LANG"] ?? "C.UTF-8",
        ]
        environment.merge(env) { _, configured in configured }
        return environment
    }
}
