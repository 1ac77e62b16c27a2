import Foundation

/// The pool settings a server's `mcp_servers.config` may carry beside its transport settings:
/// `{"sessions": 4, …}` opens up to four sessions to a server that answers one request at a time.
struct ServerPoolOptions: Sendable, Equatable {
    /// The most sessions to this server, or nil for the daemon's `sessions_per_server`.
    var sessions: Int?

    static let sessionLimit = 1...64

    /// Parses the `config` column; the error says what is wrong.
    static func parse(json: String) throws(ConfigurationError) -> ServerPoolOptions {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
            throw ConfigurationError("server config is not a JSON object")
        }
        guard let value = object["sessions"] else { return ServerPoolOptions() }
        // JSON `true` would pass as 1 (and `is Bool` holds for the numbers 0 and 1 too).
        guard let number = value as? NSNumber, String(cString: number.objCType) != "c",
            let sessions = value as? Int, sessionLimit.contains(sessions)
        else {
            throw ConfigurationError("server config \"sessions\" must be an integer from \(sessionLimit.lowerBound) to \(sessionLimit.upperBound)")
        }
        return ServerPoolOptions(sessions: sessions)
    }
}
