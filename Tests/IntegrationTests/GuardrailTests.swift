import Foundation
import Testing

@testable import AstraMCP

/// What never reaches a server: descriptors, secrets.
@Suite("Guardrails", .timeLimit(.minutes(2)))
struct GuardrailTests {
    @Test("a stdio child inherits no descriptor beyond stdin, stdout and stderr (the daemon holds database sockets and more)")
    func noInheritedDescriptors() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                // The daemon holds PostgreSQL connections and this file while it starts the child.
                let held = FileHandle(forReadingAtPath: TestPaths.fastServer)
                defer { try? held?.close() }
                let server = try await daemon.registerServer("probe", command: "python3", args: ["-u", TestPaths.fastServer, "--probe-parent"])
                try await daemon.sync(server)
                let row = try await daemon.run("open_fds", on: server, arguments: "{}")
                #expect(row.status == "success", "\(row.errorMessage ?? "")")
                #expect(row.outputText == "none", "the child inherited: \(row.outputText ?? "nil")")
            }
        }
    }

    @Test("a credential named in config.env reaches the child's environment only: its JSON-RPC errors and stderr are redacted before they are stored")
    func credentialsInEnvironment() async throws {
        let secret = "tok-\(UUID().uuidString.prefix(12))"
        try await withCredentialKeys { keys in
            try await TestDatabase.with { db in
                try await TestDaemon.with(db, configure: { $0.credentialKeysDirectory = keys; $0.retry.maxAttempts = 1 }) { daemon in
                    let server = try await daemon.registerServer(
                        "env-probe", command: "python3", args: ["-u", TestPaths.fastServer, "--env-probe"],
                        extraConfig: ["env": ["API_TOKEN": ["credential": "api_key"] as [String: String], "PLAIN": "visible"] as [String: any Sendable]],
                        healthChecks: false)
                    try await CredentialStore(database: daemon.database, keysDirectory: keys, logger: daemon.logger)
                        .store(secret: secret, serverID: server.id, credentialType: "api_key")
                    // A start the tool sync made before the credential was stored failed; the
                    // stored credential replaces that session right after.
                    try await eventually(.seconds(10), "a sync with the stored credential") {
                        (try? await daemon.sync(server)) != nil
                    }

                    let value = try await daemon.run("env_value", on: server, arguments: #"{"name": "API_TOKEN"}"#)
                    #expect(value.outputText == secret, "the child got the decrypted credential")
                    #expect(try await daemon.run("env_value", on: server, arguments: #"{"name": "PLAIN"}"#).outputText == "visible")

                    let refused = try await daemon.run("leak_error", on: server, arguments: #"{"name": "API_TOKEN"}"#)
                    #expect(refused.status == "error")
                    #expect(refused.errorMessage?.contains("upstream refused token ***") == true, "\(refused.errorMessage ?? "")")
                    #expect(refused.errorMessage?.contains(secret) == false)

                    let crashed = try await daemon.run("leak_and_exit", on: server, arguments: #"{"name": "API_TOKEN"}"#)
                    #expect(crashed.status == "error")
                    #expect(crashed.errorMessage?.contains("fatal: token *** was rejected") == true, "\(crashed.errorMessage ?? "")")
                    #expect(crashed.errorMessage?.contains(secret) == false)
                }
            }
        }
    }

    @Test("a config.env credential that is not stored fails the server's executions with a clear message")
    func missingEnvironmentCredential() async throws {
        try await withCredentialKeys { keys in
            try await TestDatabase.with { db in
                try await TestDaemon.with(db, configure: { $0.credentialKeysDirectory = keys }) { daemon in
                    let server = try await daemon.registerServer(
                        "env-missing", command: "python3", args: ["-u", TestPaths.fastServer, "--env-probe"],
                        extraConfig: ["env": ["API_TOKEN": ["credential": "api_key"]] as [String: [String: String]]])
                    try await daemon.addTool("env_value", to: server)
                    let row = try await daemon.run("env_value", on: server, arguments: #"{"name": "API_TOKEN"}"#)
                    #expect(row.status == "error")
                    #expect(row.errorMessage?.contains("api_key") == true, "\(row.errorMessage ?? "")")
                }
            }
        }
    }

    @Test("a stdio server whose program the operator did not list ends its executions error, naming the program and stdio_commands")
    func unlistedCommand() async throws {
        try await TestDatabase.with { db in
            // Only the demo server is allowed here: Python is not.
            try await TestDaemon.with(db, configure: { $0.stdioCommands = StdioCommandPolicy(allowed: []).allowing(TestPaths.demoServer) }) { daemon in
                let server = try await daemon.registerFastServer()
                try await daemon.addTool("add", to: server)
                let row = try await daemon.run("add", on: server, arguments: #"{"a": 1, "b": 2}"#)
                #expect(row.status == "error")
                #expect(row.errorMessage?.contains("stdio command 'python3'") == true, "\(row.errorMessage ?? "")")
                #expect(row.errorMessage?.contains("is not in the daemon's stdio_commands") == true)
                let demo = try await daemon.registerDemoServer()
                try await daemon.sync(demo)
                #expect(try await daemon.run("echo", on: demo, arguments: #"{"text": "listed"}"#).outputText == "listed")
            }
        }
    }
}
