import CoreMetrics
import Foundation
import Synchronization

/// The daemon's metrics, recorded through swift-metrics: their names and labels, the label cap,
/// and the handles the engine records on.
///
/// Made once per daemon (``AstraDaemon/makeParts(onCallStarted:)``) from the process's metrics
/// factory: the Prometheus one when `metrics_listen` is set (``bootstrapPrometheus()``),
/// otherwise swift-metrics' no-op default, and then every method returns at once.
///
/// The hot path takes no lock of its own per execution: a claim's executions get their handles
/// under one lock per claim (``executionMeters(for:)``), and recording on them is what the
/// backend's handlers do (an atomic add, a histogram's own lock).
public final class EngineMetrics: Sendable {
    /// Records nothing.
    public static let disabled = EngineMetrics(factory: NOOPMetricsHandler.instance)

    /// Whether anything is recorded (the factory is not swift-metrics' no-op one).
    let isEnabled: Bool
    let factory: any MetricsFactory
    let pickupLatency: CoreMetrics.Timer
    let completionBatchSize: Recorder
    let queueReady: Gauge
    let inFlight: Gauge
    private let state: Mutex<State>

    /// What the handles are looked up in.
    private struct State {
        var labels: MetricLabels
        var executions: [MetricLabels.Pair: ExecutionMeters] = [:]
        var servers: [String: ServerMeters] = [:]
        /// The label of each server seen, so one known by id only (a heartbeat's sessions, an
        /// adopted circuit) can be labelled; bounded by the servers table.
        var serverLabels: [UUID: String] = [:]
        var circuitStates: [UUID: CircuitState] = [:]
        var statements: [ObjectIdentifier: Counter] = [:]
    }

    /// - Parameters:
    ///   - factory: Where handles come from. Defaults to the process's (`MetricsSystem.factory`).
    ///   - labelCap: The most server names, and server/tool pairs, labelled (`metrics_label_cap`).
    ///     Defaults to `200`.
    public init(factory: any MetricsFactory = MetricsSystem.factory, labelCap: Int = 200) {
        self.factory = factory
        isEnabled = !(factory is NOOPMetricsHandler)
        pickupLatency = CoreMetrics.Timer(label: Name.pickupLatency, factory: factory)
        completionBatchSize = Recorder(label: Name.completionBatchSize, aggregate: true, factory: factory)
        queueReady = Gauge(label: Name.queueReady, factory: factory)
        inFlight = Gauge(label: Name.inFlight, factory: factory)
        state = Mutex(State(labels: MetricLabels(cap: labelCap)))
    }

    // MARK: Executions

    /// The handles of each claimed execution, in order, under one lock for the whole claim;
    /// nils when metrics are off.
    func executionMeters(for claimed: [ClaimedExecution]) -> [ExecutionMeters?] {
        guard isEnabled else { return Array(repeating: nil, count: claimed.count) }
        return state.withLock { state in
            claimed.map { execution in
                let pair = state.labels.pair(server: execution.server.name, tool: execution.toolName)
                _ = serverMeters(label: pair.server, id: execution.server.id, &state)
                if let meters = state.executions[pair] { return meters }
                let meters = ExecutionMeters(pair, factory: factory)
                state.executions[pair] = meters
                return meters
            }
        }
    }

    /// An execution's `tools/call` is about to be sent. A first attempt's wait since it was
    /// enqueued is its pickup latency; a retry's is mostly its backoff, so it is not recorded.
    func callStarted(_ execution: ClaimedExecution) {
        guard isEnabled, execution.attempt == 1, execution.taskID == nil else { return }
        // The database's clock wrote `enqueuedAt`: never below zero if the two disagree.
        let nanoseconds = max(Date().timeIntervalSince(execution.enqueuedAt), 0) * 1e9
        pickupLatency.recordNanoseconds(Int64(nanoseconds))
    }

    /// The outcome writer wrote a batch of `count` completions (outcomes, retries, hand-backs).
    func completionBatchWritten(_ count: Int) {
        guard isEnabled else { return }
        completionBatchSize.record(count)
    }

    /// One round trip of `Statement` to PostgreSQL.
    func roundTrip<Statement>(_ statement: Statement.Type) {
        guard isEnabled else { return }
        let counter = state.withLock { state in
            if let counter = state.statements[ObjectIdentifier(statement)] { return counter }
            let counter = Counter(
                label: Name.databaseRoundTrips, dimensions: [(Label.statement, Self.statementLabel(statement))], factory: factory)
            state.statements[ObjectIdentifier(statement)] = counter
            return counter
        }
        counter.increment()
    }

    /// `ClaimExecutionsStatement` → `claim_executions`, `ServerByIDStatement` → `server_by_id`.
    static func statementLabel<Statement>(_ statement: Statement.Type) -> String {
        var name = Array(String(describing: statement))
        if name.count > "Statement".count, String(name.suffix("Statement".count)) == "Statement" { name.removeLast("Statement".count) }
        var label = ""
        for (index, character) in name.enumerated() {
            // A word starts at a capital after a small letter, or at the last capital of a run
            // followed by a small letter (`IDStatement`, `HTTPServer`).
            let previous = index > 0 ? name[index - 1] : nil
            let next = index + 1 < name.count ? name[index + 1] : nil
            if character.isUppercase, let previous,
                !previous.isUppercase || (next?.isLowercase ?? false)
            {
                label.append("_")
            }
            label.append(contentsOf: character.lowercased())
        }
        return label
    }

    // MARK: The fleet, from the heartbeat

    /// What the heartbeat learnt: the queue's ready executions, this daemon's calls in flight,
    /// and its live sessions per server (every server seen before and not listed has none).
    func heartbeat(readyExecutions: Int, inFlight: Int, sessions: [UUID: Int]) {
        guard isEnabled else { return }
        queueReady.record(readyExecutions)
        self.inFlight.record(inFlight)
        // Every session's start named its server (``sessionStarted(_:ok:)``), so each is labelled;
        // a label no server has any more (a rename) goes to 0.
        let perLabel = state.withLock { state -> [(Gauge, Int)] in
            var totals: [String: Int] = [:]
            for (id, label) in state.serverLabels { totals[label, default: 0] += sessions[id] ?? 0 }
            return state.servers.map { label, meters in (meters.sessions, totals[label] ?? 0) }
        }
        for (gauge, total) in perLabel { gauge.record(total) }
    }

    // MARK: Servers

    /// A server's session started (`ok`) or failed to start.
    func sessionStarted(_ server: ServerDescriptor, ok: Bool) {
        guard isEnabled else { return }
        let meters = state.withLock { state in serverMeters(label: state.labels.server(server.name), id: server.id, &state) }
        if !ok { meters.startFailures.increment() }
    }

    /// A server's ready session ended; `died`: before anyone asked it to stop (its child
    /// exited, its connection dropped), so the next call starts it again.
    func sessionEnded(_ server: ServerDescriptor, died: Bool) {
        guard isEnabled, died else { return }
        let meters = state.withLock { state in serverMeters(label: state.labels.server(server.name), id: server.id, &state) }
        meters.restarts.increment()
    }

    /// A server's circuit changed, in this daemon's breaker. A server whose id alone is known
    /// (adopted from another daemon) is recorded only once this daemon has seen its name.
    func circuitChanged(serverID: UUID, name: String?, to circuit: CircuitState) {
        guard isEnabled else { return }
        let update = state.withLock { state -> (Gauge, CircuitState)? in
            guard let label = name.map({ state.labels.server($0) }) ?? state.serverLabels[serverID] else { return nil }
            let meters = serverMeters(label: label, id: serverID, &state)
            state.circuitStates[serverID] = circuit
            // Servers sharing a label (the same name in two teams, or `other`) show the worst.
            let worst = state.serverLabels.filter { $0.value == label }.keys.compactMap { state.circuitStates[$0] }.max() ?? circuit
            return (meters.circuit, worst)
        }
        if let (gauge, value) = update { gauge.record(value.rawValue) }
    }

    /// The handles of a server's label, made on first sight; notes the server's id.
    private func serverMeters(label: String, id: UUID, _ state: inout State) -> ServerMeters {
        if state.serverLabels[id] != label { state.serverLabels[id] = label }
        if let meters = state.servers[label] { return meters }
        let meters = ServerMeters(label: label, factory: factory)
        state.servers[label] = meters
        return meters
    }
}

/// A circuit's state as the `astra_mcpd_circuit_state` gauge shows it.
enum CircuitState: Int, Comparable, Sendable {
    case closed = 0, halfOpen = 1, open = 2

    init?(recorded: String) {
        switch recorded {
        case "closed": self = .closed
        case "half_open": self = .halfOpen
        case "open": self = .open
        default: return nil
        }
    }

    static func < (lhs: CircuitState, rhs: CircuitState) -> Bool { lhs.rawValue < rhs.rawValue }
}
