import Foundation
import PostgresNIO
import Testing

@testable import AstraMCP

/// Several daemons on one database act as one fleet: a server's circuit is the fleet's, and
/// a stored credential reaches every daemon's sessions.
@Suite("Several daemons on one database", .timeLimit(.minutes(2)))
struct FleetTests {
    @Test("a circuit one daemon opens is open in the other daemon too, and closes in both")
    func sharedCircuit() async throws {
        try await TestDatabase.with { db in
            try await FlakyServer.with { flaky in
                let configure: @Sendable (inout DaemonConfiguration) -> Void = {
                    $0.useShortLifecycleIntervals()
                    $0.circuitBreaker.failureThreshold = 1
                    $0.circuitBreaker.coolDown = .seconds(60)
                    $0.retry.maxAttempts = 1
                }
                try await TestDaemon.with(db, configure: configure) { first in
                    try await TestDaemon.with(db, configure: configure) { second in
                        let server = try await first.registerFlakyServer(state: flaky)
                        try flaky.crashOnCall(1)
                        let row = try await first.run("idempotent_echo", on: server, arguments: #"{"text": "x"}"#)
                        #expect(row.status == "error")
                        // Whichever daemon ran it opened its circuit; both must see it open.
                        for daemon in [first, second] {
                            try await eventually(.seconds(10), "the circuit to be open in \(daemon.parts.worker.instanceID)") {
                                if case .open = daemon.parts.worker.breakers.state(of: server.id) { return true }
                                return false
                            }
                        }
                        // An operator (or a daemon's trial) closes it: both follow.
                        try await first.execute("UPDATE mcp_servers SET circuit_state = 'closed', circuit_open_until = NULL WHERE id = '\(server.id)'")
                        for daemon in [first, second] {
                            try await eventually(.seconds(10), "the circuit to close in \(daemon.parts.worker.instanceID)") {
                                daemon.parts.worker.breakers.state(of: server.id) == .closed
                            }
                        }
                        let after = try await first.run("idempotent_echo", on: server, arguments: #"{"text": "again"}"#)
                        #expect(after.status == "success", "\(after.errorMessage ?? "")")
                    }
                }
            }
        }
    }

    @Test("a credential stored by any means replaces the sessions of every daemon; an expired one stops its sessions")
    func credentialReachesEveryDaemon() async throws {
        try await withCredentialKeys { directory in
            let http = PythonHTTPServer(mode: .streamableSSE, requiredHeader: "X-Api-Key:first-secret")
            try await http.start()
            defer { http.kill() }
            try await TestDatabase.with { db in
                let configure: @Sendable (inout DaemonConfiguration) -> Void = {
                    $0.useShortLifecycleIntervals()
                    $0.credentialKeysDirectory = directory
                }
                try await TestDaemon.with(db, configure: configure) { first in
                    try await TestDaemon.with(db, configure: configure) { second in
                        let config = #"{"url": "\#(http.url)", "auth": {"type": "api_key", "header": "X-Api-Key"}, "allow_insecure_http": true}"#
                        let rows = try await first.database.query(
                            "INSERT INTO mcp_servers (team_id, name, server_type, config) VALUES (\(first.team), 'guarded', 'http', \(config)::jsonb) RETURNING id, config::text",
                            logger: first.logger
                        ).collect()
                        let (id, stored) = try rows[0].decode((UUID, String).self)
                        let server = ServerDescriptor(id: id, name: "guarded", serverType: "http", isActive: true, configJSON: stored)
                        let store = CredentialStore(database: first.database, keysDirectory: directory, logger: first.logger)
                        try await store.store(secret: "first-secret", serverID: id, credentialType: "api_key")
                        for daemon in [first, second] {
                            try await eventually(.seconds(10), "a session with the first secret") {
                                (try? await daemon.parts.pool.session(for: server).connection.ping(timeout: .seconds(5))) != nil
                            }
                        }

                        // The server now wants another secret; `credentials set` stores it through
                        // the first daemon's database alone.
                        http.kill()
                        let replacement = PythonHTTPServer(mode: .streamableSSE, requiredHeader: "X-Api-Key:second-secret", port: http.port)
                        try await replacement.start()
                        defer { replacement.kill() }
                        try await store.store(secret: "second-secret", serverID: id, credentialType: "api_key")
                        for daemon in [first, second] {
                            try await eventually(.seconds(10), "a session with the second secret") {
                                (try? await daemon.parts.pool.session(for: server).connection.ping(timeout: .seconds(5))) != nil
                            }
                        }

                        // A credential that expires stops the sessions that use it, at its expiry.
                        let expiresAt = Date().addingTimeInterval(2)
                        try await store.store(secret: "second-secret", serverID: id, credentialType: "api_key", expiresAt: expiresAt)
                        for daemon in [first, second] {
                            try await eventually(.seconds(10), "a session with the expiring secret") {
                                (try? await daemon.parts.pool.session(for: server).connection.ping(timeout: .seconds(5))) != nil
                            }
                        }
                        try await eventually(.seconds(10), "the sessions to close once the credential expired") {
                            Date() >= expiresAt && first.parts.pool.sessionCount(serverID: id) == 0 && second.parts.pool.sessionCount(serverID: id) == 0
                        }
                        let expired = await #expect(throws: MCPSessionError.self) {
                            try await second.parts.pool.session(for: server)
                        }
                        #expect(expired?.message.contains("has expired") == true, "\(expired?.message ?? "")")
                    }
                }
            }
        }
    }
}
