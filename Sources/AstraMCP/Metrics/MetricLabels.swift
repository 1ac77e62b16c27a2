/// Which label values metrics use: the first `cap` server names, and the first `cap`
/// server/tool pairs, in the order they are seen; everything after is `other`. So the series a
/// scrape returns stay bounded whatever the servers table and the servers' tool lists hold.
///
/// A value type with no I/O, kept under ``EngineMetrics``' lock.
struct MetricLabels {
    /// The label value of whatever is over the cap.
    static let other = "other"
    /// Longer names are cut: a label value is repeated in every series of its family.
    static let maxLength = 128

    /// A server/tool pair, as labelled.
    struct Pair: Hashable, Sendable {
        var server: String
        var tool: String
    }

    let cap: Int
    private var servers: Set<String> = []
    private var pairs: Set<Pair> = []

    init(cap: Int) {
        self.cap = max(cap, 1)
    }

    /// The `server` label of a server named `name`.
    mutating func server(_ name: String) -> String {
        let name = Self.clipped(name)
        if servers.contains(name) { return name }
        guard servers.count < cap else { return Self.other }
        servers.insert(name)
        return name
    }

    /// The `server` and `tool` labels of a tool: `tool="other"` once `cap` pairs are taken (at
    /// most one such pair per server), both `other` for a server over the cap.
    mutating func pair(server: String, tool: String) -> Pair {
        let server = self.server(server)
        guard server != Self.other else { return Pair(server: Self.other, tool: Self.other) }
        let pair = Pair(server: server, tool: Self.clipped(tool))
        if pairs.contains(pair) { return pair }
        guard pairs.count < cap else { return Pair(server: server, tool: Self.other) }
        pairs.insert(pair)
        return pair
    }

    static func clipped(_ name: String) -> String {
        name.utf8.count <= maxLength ? name : String(name.prefix(maxLength))
    }
}
