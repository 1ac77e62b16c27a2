import Foundation

/// How to start a stdio MCP server, from `mcp_servers.config`:
/// `{"command": "...", "args": [...], "env": {...}, "cwd": "..."}`.
public struct StdioServerConfig: Sendable, Equatable {
    public var command: String
    public var args: [String]
    public var env: [String: String]
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
            guard let strings = env as? [String: String] else {
                throw ConfigurationError("server config \"env\" must be an object of string values")
            }
            config.env = strings
        }
        if let cwd = object["cwd"] {
            guard let path = cwd as? String else { throw ConfigurationError("server config \"cwd\" must be a string") }
            config.cwd = path
        }
        return config
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
