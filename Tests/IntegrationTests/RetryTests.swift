import Foundation
import PostgresNIO
import Testing

@testable import AstraMCP

/// Transient failures are retried when that is safe, with the history of every attempt.
@Suite("Retries", .timeLimit(.minutes(2)))
struct RetryTests {
    /// The recorded attempts of an execution: number, error, and when each ended.
    private func attempts(_ daemon: TestDaemon, _ id: UUID) async throws -> [(attempt: Int32, error: String, endedAt: Date)] {
        try await daemon.database.query(
            "SELECT attempt, error_message, ended_at FROM mcp_execution_attempts WHERE execution_id = \(id) ORDER BY attempt",
            logger: daemon.logger
        ).collect().map { try $0.decode((Int32, String, Date).self) }.map { (attempt: $0.0, error: $0.1, endedAt: $0.2) }
    }

    @Test("an idempotent tool whose server exits twice mid-call succeeds on the third attempt, with the history kept")
    func idempotentRetried() async throws {
        try await FlakyServer.with { state in
            try await TestDatabase.with { db in
                // A restart backoff of 1 ms: each retry finds the server startable (see
                // `retryOutlastsRestartBackoff` for what happens otherwise).
                try await TestDaemon.with(db, configure: { $0.useShortLifecycleIntervals(); $0.restartBackoffMax = .milliseconds(1) }) { daemon in
                    let server = try await daemon.registerFlakyServer(state: state)
                    try state.crashOnCall(2)
                    let row = try await daemon.run("idempotent_echo", on: server, arguments: #"{"text":"again"}"#)
                    #expect(row.status == "success", "\(row.errorMessage ?? "")")
                    #expect(row.outputText == "again")
                    #expect(row.attempts == 3)
                    #expect(state.calls("idempotent_echo") == 3)

                    let history = try await attempts(daemon, row.id)
                    #expect(history.map(\.attempt) == [1, 2])
                    for attempt in history {
                        #expect(attempt.error.contains("exited"), "attempt \(attempt.attempt): \(attempt.error)")
                    }
                    // Each retry waits (full jitter from 0, so only the order is certain).
                    if history.count == 2, let completed = row.completedAt {
                        #expect(history[0].endedAt <= history[1].endedAt)
                        #expect(history[1].endedAt <= completed)
                    }
                    #expect(row.errorMessage == nil)
                }
            }
        }
    }

    @Test("a non-idempotent tool whose request reached the server is not retried")
    func unsafeNotRetried() async throws {
        try await FlakyServer.with { state in
            try await TestDatabase.with { db in
                try await TestDaemon.with(db, configure: { $0.useShortLifecycleIntervals() }) { daemon in
                    let server = try await daemon.registerFlakyServer(state: state)
                    try state.crashOnCall(1)
                    let row = try await daemon.run("unsafe_write", on: server, arguments: #"{"text":"once"}"#)
                    #expect(row.status == "error")
                    #expect(row.errorMessage?.contains("exited") == true, "\(row.errorMessage ?? "")")
                    #expect(row.attempts == 1)
                    #expect(state.calls("unsafe_write") == 1)
                    #expect(try await attempts(daemon, row.id).isEmpty)
                }
            }
        }
    }

    @Test("the operator's is_idempotent overrides the tool's idempotentHint")
    func operatorOverride() async throws {
        try await FlakyServer.with { state in
            try await TestDatabase.with { db in
                try await TestDaemon.with(db, configure: { $0.useShortLifecycleIntervals() }) { daemon in
                    let server = try await daemon.registerFlakyServer(state: state)
                    try await daemon.execute("UPDATE mcp_tools SET is_idempotent = false WHERE server_id = '\(server.id)' AND tool_name = 'idempotent_echo'")
                    try state.crashOnCall(1)
                    let row = try await daemon.run("idempotent_echo", on: server, arguments: #"{"text":"x"}"#)
                    #expect(row.status == "error")
                    #expect(state.calls("idempotent_echo") == 1)
                }
            }
        }
    }

    @Test("a tool error is final: never retried")
    func toolErrorNotRetried() async throws {
        try await FlakyServer.with { state in
            try await TestDatabase.with { db in
                try await TestDaemon.with(db, configure: { $0.useShortLifecycleIntervals() }) { daemon in
                    let server = try await daemon.registerFlakyServer(state: state)
                    let row = try await daemon.run("tool_error", on: server, arguments: "{}")
                    #expect(row.status == "error")
                    #expect(row.errorMessage?.contains("tool_error always fails") == true, "\(row.errorMessage ?? "")")
                    #expect(row.attempts == 1)
                    #expect(state.calls("tool_error") == 1)
                    #expect(try await attempts(daemon, row.id).isEmpty)
                }
            }
        }
    }

    @Test("when every attempt fails, the error lists each attempt's cause")
    func exhausted() async throws {
        try await FlakyServer.with { state in
            try await TestDatabase.with { db in
                try await TestDaemon.with(db, configure: { $0.useShortLifecycleIntervals() }) { daemon in
                    let server = try await daemon.registerFlakyServer(state: state)
                    try state.crashOnCall(10)
                    let row = try await daemon.run("idempotent_echo", on: server, arguments: #"{"text":"x"}"#)
                    #expect(row.status == "error")
                    #expect(row.attempts == 3)
                    let message = row.errorMessage ?? ""
                    #expect(message.hasPrefix("attempt 1: "), "\(message)")
                    #expect(message.contains("; attempt 2: "), "\(message)")
                    #expect(message.contains("; attempt 3: "), "\(message)")
                    #expect(try await attempts(daemon, row.id).map(\.attempt) == [1, 2])
                }
            }
        }
    }

    /// After an unexpected exit the pool holds the server back for the restart backoff
    /// (0.25–0.5 s after the first exit). A retry that falls inside that window reached nothing,
    /// so it must wait out the backoff without using up an attempt.
    @Test("a retry is not used up by the pool's restart backoff")
    func retryOutlastsRestartBackoff() async throws {
        try await FlakyServer.with { state in
            try await TestDatabase.with { db in
                let configure: (inout DaemonConfiguration) -> Void = {
                    $0.useShortLifecycleIntervals()
                    $0.healthCheckInterval = .seconds(3600)
                    $0.restartBackoffMax = .seconds(2)
                    $0.retry.baseDelay = .milliseconds(10)
                    $0.retry.maxAttempts = 2
                }
                try await TestDaemon.with(db, configure: configure) { daemon in
                    let server = try await daemon.registerFlakyServer(state: state)
                    try state.crashOnCall(1)
                    let row = try await daemon.run("idempotent_echo", on: server, arguments: #"{"text":"later"}"#)
                    // The retry comes 0–10 ms after the failure plus a few round trips, well inside
                    // the 250–500 ms backoff — unless the machine is very busy.
                    #expect(row.status == "success", "\(row.errorMessage ?? "")")
                    #expect(state.calls("idempotent_echo") == 2)
                }
            }
        }
    }
}
