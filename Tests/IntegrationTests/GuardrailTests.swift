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

    @Test("an HTTP server whose host resolves to a refused address is never connected to: its executions end error naming the address and the setting")
    func refusedServerAddress() async throws {
        try await PythonHTTPServer.with { http in
            let byName = http.url.replacingOccurrences(of: "127.0.0.1", with: "localhost")
            try await TestDatabase.with { db in
                // The default policy: loopback is refused.
                try await TestDaemon.with(db, configure: { $0.networkPolicy = NetworkPolicy(); $0.retry.maxAttempts = 1 }) { daemon in
                    let server = try await daemon.registerHTTPServer("internal", url: byName)
                    try await daemon.addTool("echo", to: server)
                    let row = try await daemon.run("echo", on: server, arguments: #"{"text": "hi"}"#)
                    #expect(row.status == "error")
                    let message = row.errorMessage ?? ""
                    #expect(message.contains("network policy: 'localhost' resolves to 127.0.0.1"), "\(message)")
                    #expect(message.contains("network_deny") && message.contains("network_allow"), "\(message)")
                }
                // The operator allows loopback: the same row works.
                try await TestDaemon.with(db, configure: { $0.networkPolicy = NetworkPolicy(allowed: [IPNetwork("127.0.0.0/8")!]) }) { daemon in
                    let server = try await daemon.registerHTTPServer("internal-allowed", url: byName)
                    try await daemon.sync(server)
                    #expect(try await daemon.run("echo", on: server, arguments: #"{"text": "allowed"}"#).outputText == "allowed")
                }
            }
        }
    }

    @Test("a callback URL the network policy refuses is not sent to; the attempt records why")
    func refusedCallbackAddress() async throws {
        let secret = WebhookSigner.generateSecret()
        let receiver = WebhookReceiver(secret: secret)
        try await receiver.start()
        defer { receiver.stop() }
        try await withCredentialKeys { keys in
            try await TestDatabase.with { db in
                try await TestDaemon.with(db, configure: { $0.credentialKeysDirectory = keys; $0.networkPolicy = NetworkPolicy() }) { daemon in
                    try await CredentialStore(database: daemon.database, keysDirectory: keys, logger: daemon.logger)
                        .storeCallbackSecret(secret, teamID: daemon.team)
                    let server = try await daemon.registerFastServer()
                    try await daemon.sync(server)
                    let id = try await daemon.enqueue("add", on: server, arguments: #"{"a": 2, "b": 3}"#, callbackURL: receiver.url)
                    #expect(try await daemon.finished(id).status == "success", "stdio servers are not subject to the network policy")
                    @Sendable func lastError() async throws -> String? {
                        let rows = try await daemon.database.query(
                            "SELECT last_error FROM mcp_callback_deliveries WHERE execution_id = \(id) AND attempts > 0", logger: TestLogging.logger
                        ).collect()
                        return try rows.first?.decode(String?.self)
                    }
                    try await eventually(.seconds(30), "a refused attempt to be recorded") { try await lastError() != nil }
                    let recorded = try await lastError() ?? ""
                    #expect(recorded.contains("network policy: 127.0.0.1 is in 127.0.0.0/8"), "\(recorded)")
                    #expect(receiver.requests.isEmpty, "the receiver got \(receiver.requests.count) requests")
                }
            }
        }
    }
}
