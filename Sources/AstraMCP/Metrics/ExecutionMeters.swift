import CoreMetrics
import Metrics

/// The handles of one server/tool label pair, made once and then shared by every execution of
/// that pair: recording on them takes no lookup.
struct ExecutionMeters: Sendable {
    /// One counter per final status, made up front so each shows 0 before its first execution.
    private let success: Counter
    private let error: Counter
    private let timeout: Counter
    private let cancelled: Counter
    private let retries: Counter
    private let duration: CoreMetrics.Timer

    init(_ pair: MetricLabels.Pair, factory: any MetricsFactory) {
        let labels = [(EngineMetrics.Label.server, pair.server), (EngineMetrics.Label.tool, pair.tool)]
        func finished(_ status: ExecutionStatus) -> Counter {
            Counter(label: EngineMetrics.Name.executions, dimensions: labels + [(EngineMetrics.Label.status, status.rawValue)], factory: factory)
        }
        (success, error, timeout, cancelled) = (finished(.success), finished(.error), finished(.timeout), finished(.cancelled))
        retries = Counter(label: EngineMetrics.Name.retries, dimensions: labels, factory: factory)
        duration = CoreMetrics.Timer(label: EngineMetrics.Name.executionDuration, dimensions: labels, factory: factory)
    }

    /// Records how an execution's run ended (a hand-back to the queue is not an end).
    func record(_ completion: Completion) {
        switch completion {
        case .finished(let outcome):
            switch outcome.status {
            case .success: success.increment()
            case .error: error.increment()
            case .timeout: timeout.increment()
            case .cancelled: cancelled.increment()
            }
            duration.recordMilliseconds(outcome.durationMilliseconds)
        case .retry:
            retries.increment()
        case .release:
            break
        }
    }
}

/// The handles of one server label.
struct ServerMeters: Sendable {
    let sessions: Gauge
    let circuit: Gauge
    let restarts: Counter
    let startFailures: Counter

    init(label: String, factory: any MetricsFactory) {
        let labels = [(EngineMetrics.Label.server, label)]
        sessions = Gauge(label: EngineMetrics.Name.sessions, dimensions: labels, factory: factory)
        circuit = Gauge(label: EngineMetrics.Name.circuitState, dimensions: labels, factory: factory)
        restarts = Counter(label: EngineMetrics.Name.sessionRestarts, dimensions: labels, factory: factory)
        startFailures = Counter(label: EngineMetrics.Name.sessionStartFailures, dimensions: labels, factory: factory)
    }
}
