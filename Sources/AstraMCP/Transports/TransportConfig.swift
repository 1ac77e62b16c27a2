/// How to reach a server, by its `server_type`.
enum TransportConfig: Sendable, Equatable {
    case stdio(StdioServerConfig)
    case streamableHTTP(HTTPServerConfig)
    case legacySSE(HTTPServerConfig)

    /// Parses a server row's type and config; the error says what is wrong.
    static func parse(_ server: ServerDescriptor) throws(ConfigurationError) -> TransportConfig {
        switch server.serverType {
        case "stdio": return .stdio(try StdioServerConfig.parse(json: server.configJSON))
        case "http": return .streamableHTTP(try HTTPServerConfig.parse(json: server.configJSON))
        case "sse": return .legacySSE(try HTTPServerConfig.parse(json: server.configJSON))
        default: throw ConfigurationError("unknown server type '\(server.serverType)' (stdio, http and sse are)")
        }
    }
}
