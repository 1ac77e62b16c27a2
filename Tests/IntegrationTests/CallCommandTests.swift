import Foundation
import Testing

@testable import AstraMCP
@testable import AstraMCPDemo

/// `astra-mcpd call`, run as a process against real servers (and a real database for `--server`),
/// including the way the official MCP conformance runner runs a client.
@Suite("astra-mcpd call", .timeLimit(.minutes(2)))
struct CallCommandTests {
    struct Run {
        var code: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `astra-mcpd call <arguments>` and waits for it to exit.
    func call(_ arguments: [String], environment: [String: String] = [:], wrapper: [String] = []) async throws -> Run {
        let process = try DaemonProcess(wrapper.isEmpty ? ["call"] + arguments : arguments, environment: environment, wrapper: wrapper)
        let code = try await process.waitForExit()
        return Run(code: code, stdout: process.standardOutput, stderr: process.standardError)
    }

    /// The demo server over stdio (echo, add, sleep, fail).
    var demo: [String] {
        get throws {
            try TestPaths.requireExecutable(TestPaths.demoServer, hint: "build it with 'swift build --product astra-mcpd-demo-server'")
            return ["--command", TestPaths.demoServer]
        }
    }

    @Test("--command: lists the tools without TOOL, calls one with TOOL and JSON, prints text and structuredContent")
    func stdioServer() async throws {
        let listing = try await call(try demo)
        #expect(listing.code == 0, "\(listing.stderr)")
        let lines = listing.stdout.split(separator: "\n")
        #expect(lines.map { $0.split(separator: " ").first.map(String.init) ?? "" } == ["echo", "add", "sleep", "fail"], "\(listing.stdout)")
        #expect(lines.first?.contains("Returns the given text unchanged.") == true, "\(listing.stdout)")

        let echo = try await call(["echo", #"{"text": "hello, operator"}"#] + (try demo))
        #expect(echo.code == 0, "\(echo.stderr)")
        #expect(echo.stdout.split(separator: "\n").first == "hello, operator", "\(echo.stdout)")
        #expect(echo.stdout.contains(#"structuredContent: {"text":"hello, operator"}"#), "\(echo.stdout)")

        let raw = try await call(["--json", "add", #"{"a": 20, "b": 22}"#] + (try demo))
        #expect(raw.code == 0, "\(raw.stderr)")
        let result = try #require(try JSONSerialization.jsonObject(with: Data(raw.stdout.utf8)) as? [String: Any], "\(raw.stdout)")
        #expect((result["content"] as? [[String: Any]])?.first?["text"] as? String == "42", "\(raw.stdout)")
    }

    @Test("a tool error exits 1 with its text; bad JSON, a non-object and arguments breaking the inputSchema exit 2")
    func failures() async throws {
        let failed = try await call(["fail", #"{"message": "the disk is full"}"#] + (try demo))
        #expect(failed.code == 1)
        #expect(failed.stderr.contains("astra-mcpd: the tool reported an error: the disk is full"), "\(failed.stderr)")

        let malformed = try await call(["add", #"{"a": 1"#] + (try demo))
        #expect(malformed.code == 2)
        #expect(malformed.stderr.hasPrefix("astra-mcpd: the arguments are not JSON"), "\(malformed.stderr)")

        let array = try await call(["add", "[1, 2]"] + (try demo))
        #expect(array.code == 2)
        #expect(array.stderr.contains("the arguments must be a JSON object, not an array"), "\(array.stderr)")

        // Checked before the call, against the schema the server lists, as the daemon checks it.
        let mistyped = try await call(["add", #"{"a": "one", "b": 2}"#] + (try demo))
        #expect(mistyped.code == 2)
        #expect(mistyped.stderr.contains("do not match the inputSchema of tool 'add'"), "\(mistyped.stderr)")

        let nowhere = try await call(["add"])
        #expect(nowhere.code == 2)
        #expect(nowhere.stderr.contains("name the server with one of --server, --url or --command"), "\(nowhere.stderr)")
    }

    @Test("SIGTERM (or Ctrl-C) in the middle of a call cancels it, stops the server and exits 130")
    func interrupted() async throws {
        let process = try DaemonProcess(["call", "sleep", #"{"seconds": 60}"#] + (try demo))
        // Progress shows the call is in flight on the server.
        try await eventually(.seconds(30), "the call's first progress line") { process.standardError.contains("progress: ") }
        let sent = ContinuousClock.now
        process.terminate()
        let code = try await process.waitForExit(.seconds(20))
        #expect(code == 130, "\(process.standardError)")
        #expect(ContinuousClock.now - sent < .seconds(15), "the call is cancelled, not waited for")
        #expect(!process.standardError.contains("astra-mcpd: "), "an interrupt is no error: \(process.standardError)")
    }

    @Test("--url: Streamable HTTP on loopback, and legacy HTTP+SSE after the POST is refused")
    func httpServers() async throws {
        try await PythonHTTPServer.with(mode: .streamableSSE) { http in
            let run = try await call(["add", #"{"a": 20, "b": 22}"#, "--url", http.url])
            #expect(run.code == 0, "\(run.stderr)")
            #expect(run.stdout.split(separator: "\n").first == "42", "\(run.stdout)")
        }
        try await PythonHTTPServer.with(mode: .legacySSE) { sse in
            let run = try await call(["echo", #"{"text": "over the old transport"}"#, "--url", sse.url])
            #expect(run.code == 0, "\(run.stderr)")
            #expect(run.stdout.split(separator: "\n").first == "over the old transport", "\(run.stdout)")
            #expect(run.stderr.contains("trying the legacy HTTP+SSE transport"), "\(run.stderr)")
        }
    }

    @Test("an unreachable server exits 3 with one line; loopback refused by the default network policy exits 2")
    func unreachable() async throws {
        let url = "http://127.0.0.1:\(freeLocalPort())/mcp"
        let run = try await call(["--url", url, "--timeout", "10"])
        #expect(run.code == 3, "\(run.stderr)")
        let lines = run.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("astra-mcpd: ") && lines[0].contains("could not be reached"), "\(run.stderr)")

        // The operator's network policy applies, as in the daemon: no override for call.
        let refused = try await call(["--url", url], environment: ["ASTRA_MCPD_NETWORK_ALLOW": ""])
        #expect(refused.code == 2, "\(refused.stderr)")
        #expect(refused.stderr.contains("network_deny"), "\(refused.stderr)")
    }

    @Test("--server NAME: the row from a real database, with its stored credential")
    func registeredServer() async throws {
        let secret = "call-secret-4411"
        try await withCredentialKeys { keys in
            try await PythonHTTPServer.with(mode: .streamableJSON, requiredHeader: "X-Api-Key:\(secret)") { http in
                try await TestDatabase.with { db in
                    let id = UUID()
                    let config = #"{"url": "\#(http.url)", "auth": {"type": "api_key", "header": "X-Api-Key"}, "allow_insecure_http": true}"#
                    let sealed = try CredentialKeyring.load(directory: keys).seal(secret, serverID: id, credentialType: "api_key")
                    try await db.execute(
                        "INSERT INTO mcp_servers (id, team_id, name, server_type, config) VALUES ('\(id)', '\(UUID())', 'guarded', 'http', '\(config)'::jsonb)")
                    try await db.execute(
                        "INSERT INTO mcp_server_credentials (server_id, credential_type, encrypted_value) VALUES ('\(id)', 'api_key', '\(sealed)')")
                    let environment = ["ASTRA_MCPD_DATABASE_URL": db.url, "ASTRA_MCPD_CREDENTIAL_KEYS_DIR": keys]
                    let run = try await call(["--server", "guarded", "add", #"{"a": 2, "b": 3}"#], environment: environment)
                    #expect(run.code == 0, "\(run.stderr)")
                    #expect(run.stdout.split(separator: "\n").first == "5", "\(run.stdout)")
                    #expect(!run.stdout.contains(secret) && !run.stderr.contains(secret))

                    let byID = try await call(["--server", id.uuidString.lowercased()], environment: environment)
                    #expect(byID.code == 0, "\(byID.stderr)")
                    #expect(byID.stdout.contains("add") && byID.stdout.contains("echo"), "\(byID.stdout)")

                    let unknown = try await call(["--server", "nobody"], environment: environment)
                    #expect(unknown.code == 2)
                    #expect(unknown.stderr.contains("no server named 'nobody'"), "\(unknown.stderr)")
                }
            }
        }
    }
}
