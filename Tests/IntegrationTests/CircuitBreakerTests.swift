import Foundation
import Testing

@testable import AstraMCP

/// A server that keeps failing opens its circuit: its executions fail fast (or wait), and the
/// circuit closes once a trial call succeeds.
@Suite("Circuit breaker", .timeLimit(.minutes(2)))
struct CircuitBreakerTests {
    /// Two failures open the circuit for 1 s; one attempt per execution, so each execution is
    /// exactly one call to the breaker.
    private static func settings(maxWait: Duration) -> (inout DaemonConfiguration) -> Void {
        { configuration in
            configuration.useShortLifecycleIntervals()
            configuration.healthCheckInterval = .seconds(3600)
            configuration.circuitBreaker.failureThreshold = 2
            configuration.circuitBreaker.coolDown = .seconds(3)
            configuration.circuitBreaker.maxWait = maxWait
            configuration.retry.maxAttempts = 1
        }
    }

    /// Waits until the cool-down the daemon recorded for the open circuit is over.
    private func waitForCoolDown(_ daemon: TestDaemon, _ server: ServerDescriptor) async throws {
        try await daemon.waitForServer(server, "circuit_open_until <= now()", "the cool-down to end") { $0 == "true" }
    }

    /// A server that cannot start, with its tool row written by hand, and its circuit opened
    /// by two failed executions.
    private func openCircuit(_ daemon: TestDaemon, _ state: FlakyServer) async throws -> ServerDescriptor {
        try state.setDown(true)
        // No health check: it would start the server behind the test's back, and the tests count starts.
        let server = try await daemon.registerFlakyServer(state: state, sync: false, healthChecks: false)
        try await daemon.addTool("idempotent_echo", to: server)
        for n in 1...2 {
            let row = try await daemon.run("idempotent_echo", on: server, arguments: #"{"text":"\#(n)"}"#)
            #expect(row.status == "error")
            #expect(row.errorMessage?.contains("exited during initialize") == true, "\(row.errorMessage ?? "")")
        }
        try await daemon.waitForServer(server, "circuit_state", "the circuit to open") { $0 == "open" }
        let reason = try await daemon.serverColumn("circuit_reason", of: server) ?? ""
        #expect(reason.contains("2 consecutive failures"), "\(reason)")
        return server
    }

    @Test("with circuit_max_wait 0 an open circuit fails executions at once; after the cool-down a success closes it")
    func failsFastThenCloses() async throws {
        try await FlakyServer.with { state in
            try await TestDatabase.with { db in
                try await TestDaemon.with(db, configure: Self.settings(maxWait: .zero)) { daemon in
                    let server = try await openCircuit(daemon, state)
                    let starts = state.pids.count

                    let rejected = try await daemon.run("idempotent_echo", on: server, arguments: #"{"text":"3"}"#)
                    #expect(rejected.status == "error")
                    let message = rejected.errorMessage ?? ""
                    #expect(message.contains("the circuit of server 'flaky' is open"), "\(message)")
                    #expect(message.contains("gave up waiting"), "\(message)")
                    #expect(state.pids.count == starts, "no start was attempted while open")

                    try state.setDown(false)
                    try await waitForCoolDown(daemon, server)
                    let trial = try await daemon.run("idempotent_echo", on: server, arguments: #"{"text":"4"}"#)
                    #expect(trial.status == "success", "\(trial.errorMessage ?? "")")
                    #expect(trial.outputText == "4")
                    try await daemon.waitForServer(server, "circuit_state", "the circuit to close") { $0 == "closed" }
                }
            }
        }
    }

    @Test("with a long circuit_max_wait an execution enqueued while open waits, without using an attempt, and succeeds")
    func waitsForClose() async throws {
        try await FlakyServer.with { state in
            try await TestDatabase.with { db in
                try await TestDaemon.with(db, configure: Self.settings(maxWait: .seconds(60))) { daemon in
                    let server = try await openCircuit(daemon, state)
                    let started = ContinuousClock.now
                    let (ids, _) = try await daemon.runToCompletion(timeout: .seconds(20)) {
                        let id = try await daemon.enqueue("idempotent_echo", on: server, arguments: #"{"text":"waited"}"#)
                        try state.setDown(false)
                        return [id]
                    }
                    let row = try await daemon.execution(ids[0])
                    #expect(row.status == "success", "\(row.errorMessage ?? "")")
                    #expect(row.outputText == "waited")
                    #expect(row.attempts == 1, "waiting for the circuit is not an attempt")
                    #expect(ContinuousClock.now - started < .seconds(10))
                    try await daemon.waitForServer(server, "circuit_state", "the circuit to close") { $0 == "closed" }
                }
            }
        }
    }
}
