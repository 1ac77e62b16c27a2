import Foundation
import Prometheus
import Testing

@testable import AstraMCP

/// ``EngineMetrics`` on a registry of the test's own (never the process's: swift-metrics allows
/// one bootstrap, and the in-process tests run without one).
@Suite("EngineMetrics")
struct EngineMetricsTests {
    private func execution(server: ServerDescriptor, tool: String, attempt: Int = 1) -> ClaimedExecution {
        ClaimedExecution(
            id: UUID(), argumentsJSON: "{}", toolName: tool, toolEnabled: true, toolRemoved: false,
            timeoutSeconds: 30, maxDurationSeconds: nil, cancelRequested: false, taskID: nil, taskSupport: .forbidden,
            server: server, attempt: attempt, leaseToken: UUID(), maxAttempts: nil, idempotent: false,
            enqueuedAt: Date().addingTimeInterval(-0.002))
    }

    private func finished(_ execution: ClaimedExecution, _ status: ExecutionStatus, milliseconds: Int = 3) -> Completion {
        .finished(ExecutionOutcome(
            id: execution.id, leaseToken: execution.leaseToken, status: status, outputJSON: nil, errorMessage: nil, completedAt: Date(),
            durationMilliseconds: milliseconds))
    }

    @Test("executions are counted per server, tool and status; the tools past the cap as tool=\"other\"; no id in any label")
    func executions() {
        let registry = PrometheusCollectorRegistry()
        let metrics = EngineMetrics(factory: EngineMetrics.prometheusFactory(registry: registry), labelCap: 2)
        let server = ServerDescriptor(id: UUID(), name: "calc", serverType: "stdio", isActive: true, configJSON: "{}")
        let claimed = ["add", "add", "sub", "mul", "div"].map { execution(server: server, tool: $0) }
        let meters = metrics.executionMeters(for: claimed)
        #expect(meters.count == claimed.count)
        for (execution, meter) in zip(claimed, meters) {
            metrics.callStarted(execution)
            meter?.record(finished(execution, execution.toolName == "mul" ? .error : .success))
        }
        meters[0]?.record(.retry(RetryRequest(id: claimed[0].id, leaseToken: claimed[0].leaseToken, after: .seconds(1), error: "x", countsAsAttempt: true)))
        let text = registry.emitToString()
        #expect(text.contains(#"astra_mcpd_executions_total{server="calc",tool="add",status="success"} 2"#))
        #expect(text.contains(#"astra_mcpd_executions_total{server="calc",tool="sub",status="success"} 1"#))
        #expect(text.contains(#"astra_mcpd_executions_total{server="calc",tool="other",status="error"} 1"#))
        #expect(text.contains(#"astra_mcpd_executions_total{server="calc",tool="other",status="success"} 1"#))
        #expect(!text.contains(#"tool="mul""#) && !text.contains(#"tool="div""#))
        #expect(text.contains(#"astra_mcpd_execution_retries_total{server="calc",tool="add"} 1"#))
        #expect(text.contains(#"astra_mcpd_execution_duration_seconds_count{server="calc",tool="add"} 2"#))
        #expect(text.contains(#"astra_mcpd_execution_duration_seconds_bucket{server="calc",tool="add",le="0.005"} 2"#))
        #expect(text.contains("astra_mcpd_pickup_latency_seconds_count 5"))
        #expect(text.contains("# TYPE astra_mcpd_execution_duration_seconds histogram"))
        for execution in claimed {
            #expect(!text.contains(execution.id.uuidString.lowercased()) && !text.contains(execution.id.uuidString))
            #expect(!text.contains(server.id.uuidString))
        }
    }

    @Test("a retry's call is not a pickup")
    func retriesAreNoPickup() {
        let registry = PrometheusCollectorRegistry()
        let metrics = EngineMetrics(factory: EngineMetrics.prometheusFactory(registry: registry))
        let server = ServerDescriptor(id: UUID(), name: "calc", serverType: "stdio", isActive: true, configJSON: "{}")
        metrics.callStarted(execution(server: server, tool: "add", attempt: 2))
        #expect(registry.emitToString().contains("astra_mcpd_pickup_latency_seconds_count 0"))
    }

    @Test("sessions per server from the heartbeat, restarts, start failures, circuits (the worst of a shared label)")
    func servers() {
        let registry = PrometheusCollectorRegistry()
        let metrics = EngineMetrics(factory: EngineMetrics.prometheusFactory(registry: registry))
        let a = ServerDescriptor(id: UUID(), name: "github", serverType: "stdio", isActive: true, configJSON: "{}")
        let b = ServerDescriptor(id: UUID(), name: "github", serverType: "http", isActive: true, configJSON: "{}")
        let c = ServerDescriptor(id: UUID(), name: "clock", serverType: "stdio", isActive: true, configJSON: "{}")
        metrics.sessionStarted(a, ok: true)
        metrics.sessionStarted(b, ok: true)
        metrics.sessionStarted(c, ok: false)
        metrics.sessionEnded(a, died: true)
        metrics.sessionEnded(b, died: false)
        metrics.heartbeat(readyExecutions: 7, inFlight: 3, sessions: [a.id: 2, b.id: 1])
        metrics.circuitChanged(serverID: a.id, name: a.name, to: .open)
        metrics.circuitChanged(serverID: b.id, name: nil, to: .halfOpen)
        let text = registry.emitToString()
        #expect(text.contains(#"astra_mcpd_sessions{server="github"} 3"#))
        #expect(text.contains(#"astra_mcpd_sessions{server="clock"} 0"#))
        #expect(text.contains(#"astra_mcpd_session_restarts_total{server="github"} 1"#))
        #expect(text.contains(#"astra_mcpd_session_start_failures_total{server="clock"} 1"#))
        #expect(text.contains(#"astra_mcpd_circuit_state{server="github"} 2"#))
        #expect(text.contains(#"astra_mcpd_circuit_state{server="clock"} 0"#))
        #expect(text.contains("astra_mcpd_queue_ready_executions 7"))
        #expect(text.contains("astra_mcpd_executions_in_flight 3"))
        metrics.circuitChanged(serverID: a.id, name: a.name, to: .closed)
        #expect(registry.emitToString().contains(#"astra_mcpd_circuit_state{server="github"} 1"#))
    }

    @Test("round trips per statement, and outcome-writer batch sizes")
    func database() {
        let registry = PrometheusCollectorRegistry()
        let metrics = EngineMetrics(factory: EngineMetrics.prometheusFactory(registry: registry))
        metrics.roundTrip(ClaimExecutionsStatement.self)
        metrics.roundTrip(ClaimExecutionsStatement.self)
        metrics.roundTrip(CommitProbeStatement.self)
        metrics.completionBatchWritten(40)
        let text = registry.emitToString()
        #expect(text.contains(#"astra_mcpd_database_round_trips_total{statement="claim_executions"} 2"#))
        #expect(text.contains(#"astra_mcpd_database_round_trips_total{statement="commit_probe"} 1"#))
        #expect(text.contains(#"astra_mcpd_completion_batch_size_bucket{le="50.0"} 1"#))
        #expect(EngineMetrics.statementLabel(InstanceHeartbeatStatement.self) == "instance_heartbeat")
        #expect(EngineMetrics.statementLabel(ServerByIDStatement.self) == "server_by_id")
        #expect(EngineMetrics.statementLabel(CommitProbeStatement.self) == "commit_probe")
    }

    @Test("with swift-metrics' no-op backend nothing is looked up")
    func disabled() {
        let server = ServerDescriptor(id: UUID(), name: "calc", serverType: "stdio", isActive: true, configJSON: "{}")
        let meters = EngineMetrics.disabled.executionMeters(for: [execution(server: server, tool: "add")])
        #expect(meters.count == 1 && meters[0] == nil)
    }
}
