import AsyncHTTPClient
import Logging
import Synchronization
import Testing

@testable import AstraMCP

/// The network policy judges resolved addresses; these never leave the process.
@Suite("NetworkPolicy")
struct NetworkPolicyTests {
    private func ip(_ text: String) -> IPAddress { IPAddress(text)! }

    @Test("addresses and networks parse in both families, brackets and all; nonsense does not")
    func parsing() {
        #expect(IPAddress("203.0.113.7")?.bytes == [203, 0, 113, 7])
        #expect(IPAddress("[2001:db8::1]")?.description == "2001:db8::1")
        #expect(IPAddress("::ffff:10.0.0.1")?.embeddedIPv4 == IPAddress("10.0.0.1"))
        #expect(IPAddress("64:ff9b::a9fe:a9fe")?.embeddedIPv4 == IPAddress("169.254.169.254"))
        #expect(IPAddress("fe80::1%eth0") == nil, "a zone id names a link")
        for bad in ["", "1.2.3", "1.2.3.4.5", "example.com", "::g", "01.2.3.4x"] { #expect(IPAddress(bad) == nil, "\(bad)") }
        #expect(IPNetwork("10.0.0.0/8")?.prefixLength == 8)
        #expect(IPNetwork("2001:db8::/129") == nil)
        #expect(IPNetwork("10.0.0.0/-1") == nil)
        #expect(IPNetwork("10.0.0.0/8/1") == nil)
        #expect(IPNetwork("192.0.2.1")?.prefixLength == 32, "a bare address is a network of one")
    }

    @Test("a network holds exactly the addresses under its prefix, of its own family only")
    func containment() {
        let net = IPNetwork("172.16.0.0/12")!
        #expect(net.contains(ip("172.16.0.1")) && net.contains(ip("172.31.255.255")))
        #expect(!net.contains(ip("172.32.0.0")) && !net.contains(ip("172.15.255.255")))
        #expect(!net.contains(ip("::ffff:172.16.0.1")), "families are judged apart")
        #expect(IPNetwork("0.0.0.0/0")!.contains(ip("8.8.8.8")))
        #expect(IPNetwork("fc00::/7")!.contains(ip("fd12:3456::1")) && !IPNetwork("fc00::/7")!.contains(ip("fe00::1")))
    }

    @Test("link-local, metadata, unspecified and multicast are refused even when network_allow lists them")
    func alwaysRefused() {
        let everything = NetworkPolicy(allowed: [IPNetwork("0.0.0.0/0")!, IPNetwork("::/0")!], denied: [])
        for address in ["169.254.169.254", "169.254.0.1", "fe80::1", "fd00:ec2::254", "100.100.100.200", "168.63.129.16", "0.0.0.0", "::", "224.0.0.1", "ff02::1", "255.255.255.255"] {
            let refusal = everything.check(ip(address))
            #expect(refusal?.description.contains("always refused") == true, "\(address): \(refusal?.description ?? "allowed")")
        }
        #expect(everything.check(ip("::ffff:169.254.169.254"))?.description.contains("reaches 169.254.169.254") == true, "IPv4-mapped")
        #expect(everything.check(ip("64:ff9b::a9fe:a9fe")) != nil, "NAT64")
    }

    @Test("by default loopback and private ranges are refused, naming the network and the setting; public addresses pass")
    func defaults() {
        let policy = NetworkPolicy()
        for address in ["127.0.0.1", "::1", "10.1.2.3", "172.20.0.1", "192.168.1.1", "100.64.0.1", "fd00::1", "::ffff:127.0.0.1", "198.18.0.1"] {
            #expect(policy.check(ip(address)) != nil, "\(address)")
        }
        #expect(policy.check(ip("10.1.2.3"))?.description == "10.1.2.3 is in 10.0.0.0/8, which the daemon's network_deny refuses (an operator allows it with network_allow)")
        for address in ["8.8.8.8", "203.0.113.7", "2606:4700::1111", "172.32.0.1"] { #expect(policy.check(ip(address)) == nil, "\(address)") }
    }

    @Test("network_allow opens a denied network; network_deny may be replaced, even by nothing")
    func configured() throws {
        var configuration = DaemonConfiguration()
        try configuration.apply(fileText: "network_allow = 10.20.0.0/16, fd00:1::/32", source: "t")
        #expect(configuration.networkPolicy.check(ip("10.20.5.5")) == nil)
        #expect(configuration.networkPolicy.check(ip("10.21.0.1")) != nil)
        #expect(configuration.networkPolicy.check(ip("fd00:1::7")) == nil)
        try configuration.apply(fileText: "network_deny = ", source: "t")
        #expect(configuration.networkPolicy.check(ip("127.0.0.1")) == nil)
        #expect(configuration.networkPolicy.check(ip("169.254.169.254")) != nil, "not even an empty deny list opens link-local")
        #expect(throws: ConfigurationError.self) { try configuration.apply(fileText: "network_allow = 10.0.0.0/33", source: "t") }
        #expect(throws: ConfigurationError.self) { try configuration.apply(fileText: "network_deny = intranet", source: "t") }
    }

    @Test("of a name's addresses the first usable one is chosen; a name with any always-refused address is refused outright")
    func choosing() throws {
        let policy = NetworkPolicy()
        #expect(try policy.choose(from: [ip("10.0.0.1"), ip("203.0.113.7")], host: "svc.example") == ip("203.0.113.7"))
        #expect(throws: NetworkPolicy.Refusal.self) { try policy.choose(from: [ip("203.0.113.7"), ip("169.254.169.254")], host: "svc.example") }
        do {
            _ = try policy.choose(from: [ip("127.0.0.1")], host: "localhost")
            Issue.record("loopback was chosen")
        } catch {
            #expect(error.description.hasPrefix("'localhost' resolves to 127.0.0.1 is in 127.0.0.0/8"))
        }
        #expect(throws: NetworkPolicy.Refusal.self) { try policy.choose(from: [], host: "nothing.example") }
    }

    @Test("a pinned client goes to the address judged, keeps it while the resolution is fresh, and a later refused answer is refused (DNS rebinding)")
    func pinning() async throws {
        let answers = Mutex<[[IPAddress]]>([[ip("203.0.113.7")], [ip("127.0.0.1")]])
        let resolutions = Atomic(0)
        let resolver = HostResolver { _ in
            resolutions.add(1, ordering: .relaxed)
            return answers.withLock { $0.count > 1 ? $0.removeFirst() : $0[0] }
        }
        let clients = PinnedHTTPClients(
            configuration: .init(), policy: NetworkPolicy(), resolver: resolver, resolutionTTL: .seconds(3600), logger: Logger(label: "test"))
        let first = try await clients.lease(for: "https://svc.example/mcp")
        #expect(first.address == ip("203.0.113.7"))
        #expect(first.dnsOverride == ["svc.example": "203.0.113.7"], "AsyncHTTPClient connects to the judged address")
        let second = try await clients.lease(for: "https://svc.example/other")
        #expect(second.address == first.address && resolutions.load(ordering: .relaxed) == 1, "a fresh resolution is reused")
        await clients.release(first)
        await clients.release(second)
        await clients.shutdown()

        // A new set of clients (an expired resolution) asks DNS again and gets loopback: refused.
        let later = PinnedHTTPClients(configuration: .init(), policy: NetworkPolicy(), resolver: resolver, resolutionTTL: .zero, logger: Logger(label: "test"))
        await #expect(throws: PinnedHTTPClients.Refused.self) { _ = try await later.lease(for: "https://svc.example/mcp") }
        await later.shutdown()
    }

    @Test("a reloaded policy judges a host anew at once, although its resolution is still fresh")
    func reloadedPolicy() async throws {
        let resolver = HostResolver { _ in [ip("10.1.2.3")] }
        var allowing = NetworkPolicy()
        allowing.allowed = [try #require(IPNetwork("10.0.0.0/8"))]
        let clients = PinnedHTTPClients(configuration: .init(), policy: allowing, resolver: resolver, resolutionTTL: .seconds(3600), logger: Logger(label: "test"))
        let lease = try await clients.lease(for: "https://internal.example/mcp")
        #expect(lease.address == ip("10.1.2.3"))
        await clients.release(lease)
        clients.setPolicy(NetworkPolicy())
        await #expect(throws: PinnedHTTPClients.Refused.self) { _ = try await clients.lease(for: "https://internal.example/mcp") }
        clients.setPolicy(allowing)
        let again = try await clients.lease(for: "https://internal.example/mcp")
        await clients.release(again)
        await clients.shutdown()
    }

    @Test("unused clients beyond the bound, and pins no longer current, are closed")
    func bounded() async throws {
        let clients = PinnedHTTPClients(
            configuration: .init(), policy: NetworkPolicy(), resolver: HostResolver { _ in [IPAddress("203.0.113.7")!] }, maxIdleClients: 2,
            logger: Logger(label: "test"))
        var leases: [PinnedHTTPClients.Lease] = []
        for n in 0..<5 { leases.append(try await clients.lease(for: "https://host\(n).example/")) }
        #expect(clients.openClients == 5)
        for lease in leases { await clients.release(lease) }
        #expect(clients.openClients == 2)
        await clients.shutdown()
        #expect(clients.openClients == 0)
        await #expect(throws: PinnedHTTPClients.Refused.self) { _ = try await clients.lease(for: "https://host0.example/") }
    }

    @Test("a URL without a host, and a name that does not resolve, are refused with the reason")
    func unresolvable() async throws {
        let clients = PinnedHTTPClients(
            configuration: .init(), policy: NetworkPolicy(),
            resolver: HostResolver { host in throw HostResolver.Failure(description: "cannot resolve '\(host)': Name or service not known") },
            logger: Logger(label: "test"))
        do {
            _ = try await clients.lease(for: "not a url")
            Issue.record("leased")
        } catch {
            #expect(!error.transient && error.description.contains("not a URL with a host"))
        }
        do {
            _ = try await clients.lease(for: "http://svc.example/")
            Issue.record("leased")
        } catch {
            #expect(error.transient && error.description.contains("cannot resolve 'svc.example'"), "DNS may come back: \(error)")
        }
        await clients.shutdown()
    }

    @Test("the system resolver answers as a connection would (localhost from /etc/hosts, no DNS traffic), and literals as they are")
    func systemResolver() async throws {
        let localhost = try await HostResolver.system.resolve("localhost")
        #expect(!localhost.isEmpty && localhost.allSatisfy { address in NetworkPolicy.loopback.contains { $0.contains(address) } }, "\(localhost)")
        #expect(try await HostResolver.system.resolve("192.0.2.1") == [IPAddress("192.0.2.1")!])
    }
}
