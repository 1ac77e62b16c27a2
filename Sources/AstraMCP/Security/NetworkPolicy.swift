/// Which addresses the daemon may connect to for HTTP and SSE servers, and for callbacks: judged
/// on the address a host name resolved to, at connect time, and the connection then pinned to
/// that address (``PinnedHTTPClients``), so a name that resolves elsewhere later (DNS rebinding)
/// cannot get round it.
///
/// Three layers, in order:
/// 1. ``alwaysRefused``: link-local (where every cloud keeps its metadata service), the known
///    metadata addresses outside it, unspecified, multicast and broadcast. No setting allows them:
///    nothing an MCP server or a webhook receiver needs lives there, and a credential of the
///    host's is one request away.
/// 2. `network_allow`: networks the operator allows (default none). An allowed address is used.
/// 3. `network_deny`: networks refused unless allowed. The default (``defaultDenied``) is
///    loopback, the private ranges, carrier-grade NAT and the other special-purpose ranges: the
///    daemon runs inside the operator's network, next to its database, while whoever writes
///    `mcp_servers` is a team admin; by default a row can reach only the public internet. An
///    operator with MCP servers on an internal network allows that network.
///
/// IPv4-mapped and NAT64 IPv6 addresses are judged as the IPv4 address they reach.
public struct NetworkPolicy: Sendable, Equatable {
    /// Networks allowed although `denied` lists them (never those in ``alwaysRefused``).
    public var allowed: [IPNetwork]
    /// Networks refused unless `allowed` lists them.
    public var denied: [IPNetwork]

    public init(allowed: [IPNetwork] = [], denied: [IPNetwork] = NetworkPolicy.defaultDenied) {
        self.allowed = allowed
        self.denied = denied
    }

    /// This policy, also allowing loopback: for the demo, the benchmark and the tests, whose
    /// servers and receivers run on this host.
    public func allowingLoopback() -> NetworkPolicy {
        var policy = self
        policy.allowed += Self.loopback
        return policy
    }

    static let loopback = [IPNetwork("127.0.0.0/8")!, IPNetwork("::1/128")!]

    /// Refused whatever the configuration says, each with why.
    public static let alwaysRefused: [(network: IPNetwork, reason: String)] = [
        ("169.254.0.0/16", "link-local, where cloud metadata services answer"),
        ("fe80::/10", "link-local"),
        ("fd00:ec2::254/128", "the AWS metadata service"),
        ("100.100.100.200/32", "the Alibaba Cloud metadata service"),
        ("168.63.129.16/32", "the Azure host service"),
        ("0.0.0.0/8", "unspecified (it reaches this host)"),
        ("::/128", "unspecified (it reaches this host)"),
        ("224.0.0.0/4", "multicast"),
        ("ff00::/8", "multicast"),
        ("255.255.255.255/32", "broadcast"),
    ].map { (IPNetwork($0.0)!, $0.1) }

    /// `network_deny` when the configuration does not say: loopback, private and special-purpose
    /// ranges (RFC 6890).
    public static let defaultDenied: [IPNetwork] = [
        "127.0.0.0/8", "::1/128",
        "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
        "100.64.0.0/10", "192.0.0.0/24", "198.18.0.0/15", "240.0.0.0/4",
        "fc00::/7", "fec0::/10",
    ].map { IPNetwork($0)! }

    /// Why an address may not be used, said for the execution or delivery that needed it.
    public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        public var address: IPAddress
        public var description: String
    }

    /// Nil when `address` may be used; otherwise why not.
    public func check(_ address: IPAddress) -> Refusal? {
        if let v4 = address.embeddedIPv4, let refusal = check(v4) {
            return Refusal(address: address, description: "\(address) reaches \(refusal.description)")
        }
        if let refused = Self.alwaysRefused.first(where: { $0.network.contains(address) }) {
            return Refusal(address: address, description: "\(address) is \(refused.reason), which is always refused")
        }
        if allowed.contains(where: { $0.contains(address) }) { return nil }
        if let network = denied.first(where: { $0.contains(address) }) {
            return Refusal(
                address: address,
                description: "\(address) is in \(network), which the daemon's network_deny refuses (an operator allows it with network_allow)")
        }
        return nil
    }

    /// The address to connect to among those `host` resolved to: the first that may be used.
    /// A name with any always-refused address is refused outright (no honest service has one).
    public func choose(from addresses: [IPAddress], host: String) throws(Refusal) -> IPAddress {
        guard let first = addresses.first else {
            throw Refusal(address: IPAddress(bytes: [0, 0, 0, 0])!, description: "'\(host)' resolved to no address")
        }
        let refusals = addresses.map { ($0, check($0)) }
        if let always = addresses.first(where: { address in Self.alwaysRefused.contains { $0.network.contains(address.embeddedIPv4 ?? address) } }) {
            throw Self.named(check(always)!, host: host)
        }
        if let usable = refusals.first(where: { $0.1 == nil }) { return usable.0 }
        throw Self.named(refusals.first?.1 ?? check(first)!, host: host)
    }

    private static func named(_ refusal: Refusal, host: String) -> Refusal {
        guard IPAddress(host) == nil else { return refusal }
        return Refusal(address: refusal.address, description: "'\(host)' resolves to \(refusal.description)")
    }

    /// Parses a comma-separated list of networks (`network_allow`, `network_deny`).
    static func parseNetworks(_ text: String, key: String) throws(ConfigurationError) -> [IPNetwork] {
        var networks: [IPNetwork] = []
        for entry in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            guard let network = IPNetwork(entry) else {
                throw ConfigurationError("'\(entry)' is not a network (\(key) lists CIDR networks such as 10.0.0.0/8 or fc00::/7)")
            }
            networks.append(network)
        }
        return networks
    }
}
