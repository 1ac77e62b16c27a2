import AsyncHTTPClient
import Foundation
import Logging
import Synchronization

/// HTTP clients each pinned to one address of one host, the address the ``NetworkPolicy``
/// judged: AsyncHTTPClient resolves names itself when it connects, with no hook to check the
/// result, so a client is made per checked address with `dnsOverride` mapping the host to it.
/// The TLS name stays the host's, so certificates are verified as usual.
///
/// A host is resolved again once its resolution is older than `resolutionTTL`; a new address
/// gets a client of its own, and a client that is no longer current closes once unused. At most
/// `maxIdleClients` unused clients are kept (least recently used go first), so memory is bounded
/// by the clients in use plus that.
final class PinnedHTTPClients: Sendable {
    /// The clients of one pinned address, lent out until ``PinnedHTTPClients/release(_:)``.
    struct Lease: Sendable {
        fileprivate let pin: Pin
        let client: HTTPClient
        /// A client that never reuses a connection (nil unless a single-use configuration was given).
        let singleUseClient: HTTPClient?
        /// The address connections go to.
        var address: IPAddress { pin.address }
        /// The `dnsOverride` the clients were made with.
        var dnsOverride: [String: String] { PinnedHTTPClients.dnsOverride(pin) }
    }

    fileprivate struct Pin: Hashable, Sendable {
        var host: String
        var address: IPAddress
    }

    private struct Entry {
        var client: HTTPClient
        var singleUseClient: HTTPClient?
        var users = 0
        var lastUsed: ContinuousClock.Instant
    }

    private struct State {
        var entries: [Pin: Entry] = [:]
        /// Each host's latest resolution.
        var resolved: [String: (pin: Pin, at: ContinuousClock.Instant)] = [:]
        var shutDown = false
    }

    /// A URL the policy refuses, or whose host cannot be resolved: said for the execution or
    /// delivery that needed it.
    struct Refused: Error, CustomStringConvertible {
        var description: String
        /// Resolution failed (DNS may come back), rather than the policy refusing.
        var transient: Bool
    }

    /// The policy hosts are judged by; a reload may replace it (``setPolicy(_:)``).
    var policy: NetworkPolicy { livePolicy.value }
    private let livePolicy: LiveValue<NetworkPolicy>
    private let configuration: HTTPClient.Configuration
    private let singleUseConfiguration: HTTPClient.Configuration?
    private let resolver: HostResolver
    private let resolutionTTL: Duration
    private let maxIdleClients: Int
    private let logger: Logger
    private let state = Mutex(State())

    init(
        configuration: HTTPClient.Configuration, singleUseConfiguration: HTTPClient.Configuration? = nil, policy: NetworkPolicy,
        resolver: HostResolver = .system, resolutionTTL: Duration = .seconds(30), maxIdleClients: Int = 32, logger: Logger
    ) {
        self.configuration = configuration
        self.singleUseConfiguration = singleUseConfiguration
        livePolicy = LiveValue(policy)
        self.resolver = resolver
        self.resolutionTTL = resolutionTTL
        self.maxIdleClients = maxIdleClients
        self.logger = logger
    }

    /// Judges every host anew by `policy` from now on: no lease is taken from a pin the old
    /// policy allowed (leases held finish their requests).
    func setPolicy(_ policy: NetworkPolicy) {
        livePolicy.value = policy
        state.withLock { $0.resolved = [:] }
    }

    /// The clients for `url`'s host, pinned to an address the policy allows.
    /// - Throws: ``Refused``.
    func lease(for url: String) async throws(Refused) -> Lease {
        guard let host = URL(string: url)?.host, !host.isEmpty else {
            throw Refused(description: "'\(url.prefix(200))' is not a URL with a host", transient: false)
        }
        let now = ContinuousClock.now
        if let lease = try takeCurrent(host: host, now: now) { return lease }
        let addresses: [IPAddress]
        do {
            addresses = try await resolver.resolve(host)
        } catch {
            throw Refused(description: "\(error)", transient: true)
        }
        let address: IPAddress
        do {
            address = try policy.choose(from: addresses, host: host)
        } catch {
            throw Refused(description: "network policy: \(error.description)", transient: false)
        }
        let pin = Pin(host: host, address: address)
        let lease = state.withLock { state -> Lease? in
            guard !state.shutDown else { return nil }
            state.resolved[host] = (pin, now)
            if state.entries[pin] == nil {
                state.entries[pin] = makeEntry(pin, now: now)
            }
            state.entries[pin]!.users += 1
            state.entries[pin]!.lastUsed = now
            return Lease(pin: pin, client: state.entries[pin]!.client, singleUseClient: state.entries[pin]!.singleUseClient)
        }
        guard let lease else { throw Refused(description: "the daemon is stopping", transient: true) }
        return lease
    }

    /// The host's current pin, if its resolution is still fresh.
    private func takeCurrent(host: String, now: ContinuousClock.Instant) throws(Refused) -> Lease? {
        try state.withLock { state throws(Refused) -> Lease? in
            guard !state.shutDown else { throw Refused(description: "the daemon is stopping", transient: true) }
            guard let current = state.resolved[host], now - current.at < resolutionTTL, var entry = state.entries[current.pin] else { return nil }
            entry.users += 1
            entry.lastUsed = now
            state.entries[current.pin] = entry
            return Lease(pin: current.pin, client: entry.client, singleUseClient: entry.singleUseClient)
        }
    }

    /// An address literal is connected to as it is; a name goes to the address judged.
    fileprivate static func dnsOverride(_ pin: Pin) -> [String: String] {
        IPAddress(pin.host) == nil ? [pin.host: pin.address.description] : [:]
    }

    private func makeEntry(_ pin: Pin, now: ContinuousClock.Instant) -> Entry {
        func client(_ base: HTTPClient.Configuration) -> HTTPClient {
            var configuration = base
            configuration.dnsOverride = Self.dnsOverride(pin)
            return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration, backgroundActivityLogger: logger)
        }
        return Entry(client: client(configuration), singleUseClient: singleUseConfiguration.map(client), lastUsed: now)
    }

    /// Gives a lease back; clients no longer current, or beyond `maxIdleClients` unused, close.
    func release(_ lease: Lease) async {
        let retired = state.withLock { state -> [Entry] in
            guard var entry = state.entries[lease.pin] else { return [] }
            entry.users -= 1
            state.entries[lease.pin] = entry
            var retired: [Entry] = []
            if entry.users == 0, state.resolved[lease.pin.host]?.pin != lease.pin {
                retired.append(state.entries.removeValue(forKey: lease.pin)!)
            }
            var idle = state.entries.filter { $0.value.users == 0 }
            while idle.count > maxIdleClients, let oldest = idle.min(by: { $0.value.lastUsed < $1.value.lastUsed }) {
                idle.removeValue(forKey: oldest.key)
                retired.append(state.entries.removeValue(forKey: oldest.key)!)
                if state.resolved[oldest.key.host]?.pin == oldest.key { state.resolved.removeValue(forKey: oldest.key.host) }
            }
            return retired
        }
        for entry in retired { await Self.shutDown(entry) }
    }

    /// Closes every client; leases after this fail.
    func shutdown() async {
        let all = state.withLock { state -> [Entry] in
            state.shutDown = true
            defer { state.entries = [:] }
            return Array(state.entries.values)
        }
        for entry in all { await Self.shutDown(entry) }
    }

    private static func shutDown(_ entry: Entry) async {
        try? await entry.client.shutdown()
        try? await entry.singleUseClient?.shutdown()
    }

    /// How many clients are open (for tests).
    var openClients: Int { state.withLock { $0.entries.count } }
}
