/// Where the metrics endpoint listens (`metrics_listen`): a loopback address and a port.
///
/// Only loopback is accepted: the endpoint has no authentication and no TLS, and what it shows
/// (server and tool names, load, failures) is the operator's business. To scrape from another
/// host, put an authenticating proxy, or a Prometheus agent, on this one.
public struct MetricsListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// An IP literal in `127.0.0.0/8` or `::1`, as NIO binds it (no brackets).
    public var host: String
    /// `0` takes a free port; the endpoint logs the one it got.
    public var port: Int

    /// Parses `127.0.0.1:9464`, `[::1]:9464` or `localhost:9464` (bound as `127.0.0.1`).
    /// - Throws: ``ConfigurationError`` naming what is wrong, in one line.
    public static func parse(_ text: String) throws(ConfigurationError) -> MetricsListenAddress {
        let hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw ConfigurationError("expected '[ADDRESS]:PORT', got '\(text)'")
            }
            hostPart = text[text.index(after: text.startIndex)..<close]
            portPart = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else {
                throw ConfigurationError("expected 'ADDRESS:PORT' (an IPv6 address in brackets), got '\(text)'")
            }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        }
        guard let port = Int(portPart), (0...65_535).contains(port) else {
            throw ConfigurationError("expected a port 0…65535 after the address, got '\(portPart)'")
        }
        if hostPart == "localhost" { return MetricsListenAddress(host: "127.0.0.1", port: port) }
        guard let address = IPAddress(String(hostPart)) else {
            throw ConfigurationError("'\(hostPart)' is not an IP address (write 127.0.0.1, [::1] or localhost)")
        }
        guard Self.isLoopback(address) else {
            throw ConfigurationError(
                "\(hostPart) is not a loopback address: the metrics endpoint has no authentication, so it listens on "
                    + "127.0.0.0/8 or ::1 only (scrape it through a proxy or an agent on this host)")
        }
        return MetricsListenAddress(host: address.description, port: port)
    }

    /// `127.0.0.0/8` or `::1`. An IPv4-mapped form (`::ffff:127.0.0.1`) is refused: write the
    /// IPv4 address.
    static func isLoopback(_ address: IPAddress) -> Bool {
        if address.isIPv4 { return address.bytes[0] == 127 }
        return address.bytes == [UInt8](repeating: 0, count: 15) + [1]
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
