@testable import AstraMCPDemo
import Foundation
import PostgresNIO

@testable import AstraMCP

#if canImport(Glibc)
import Glibc
#endif

/// A Streamable HTTP MCP server from the official Python SDK (`Tests/Fixtures/http_server.py`),
/// listening on a free port of 127.0.0.1 for one test.
final class PythonHTTPServer: @unchecked Sendable {
    /// How the server speaks.
    enum Mode: Sendable {
        /// Streamable HTTP, answering POSTs with SSE streams.
        case streamableSSE
        /// Streamable HTTP, answering POSTs with application/json.
        case streamableJSON
        /// Streamable HTTP with event ids and an event store: cut reply streams can be resumed.
        case streamableResumable
        /// The legacy HTTP+SSE transport.
        case legacySSE
        /// `misbehaving_http_server.py`: oversized events, endless and cut streams.
        case misbehaving
    }

    let port: Int
    let mode: Mode
    /// `NAME:VALUE`: the server answers 401 to requests without that header.
    let requiredHeader: String?
    /// More of `http_server.py`'s options (`--retry MS`, `--keep-alive SECONDS`).
    let extraArguments: [String]
    /// Set: the server is `long_running_server.py`, recording what it saw in this directory.
    let longRunningRecord: String?
    private var process: Process?

    var url: String { mode == .legacySSE ? "http://127.0.0.1:\(port)/sse" : "http://127.0.0.1:\(port)/mcp" }

    /// - Parameter port: The port to listen on (another server's, to stand in for it after a
    ///   restart); a free one by default.
    init(
        mode: Mode = .streamableSSE, requiredHeader: String? = nil, port: Int? = nil, extraArguments: [String] = [],
        longRunningRecord: String? = nil
    ) {
        self.port = port ?? freeLocalPort()
        self.longRunningRecord = longRunningRecord
        self.extraArguments = extraArguments
        self.mode = mode
        self.requiredHeader = requiredHeader
    }

    /// Starts (or restarts) the server and waits until it accepts connections.
    func start() async throws {
        let python = TestPaths.repositoryRoot.appendingPathComponent(".venv/bin/python").path
        try TestPaths.requireExecutable(python, hint: "run `bash scripts/setup.sh` to create the venv with the `mcp` package")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        let script = mode == .misbehaving ? "Tests/Fixtures/misbehaving_http_server.py" : "Tests/Fixtures/http_server.py"
        if let longRunningRecord {
            process.arguments = [
                TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures/long_running_server.py").path, "--http", "\(port)",
                "--record", longRunningRecord,
            ]
        } else {
            process.arguments = [TestPaths.repositoryRoot.appendingPathComponent(script).path, "\(port)"]
                + (mode == .streamableJSON ? ["--json"] : mode == .legacySSE ? ["--sse"] : mode == .streamableResumable ? ["--resumable"] : [])
                + (requiredHeader.map { ["--require-header", $0] } ?? []) + extraArguments
        }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        try await eventually(.seconds(20), "the Python MCP server to listen on port \(port)") { [port] in acceptsConnections(port: port) }
    }

    /// Stops the server (SIGKILL: a crash, as far as clients can tell).
    func kill() {
        guard let process, process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    deinit { kill() }

    static func with<T: Sendable>(
        mode: Mode = .streamableSSE, requiredHeader: String? = nil, extraArguments: [String] = [],
        _ body: (PythonHTTPServer) async throws -> T
    ) async throws -> T {
        let server = PythonHTTPServer(mode: mode, requiredHeader: requiredHeader, extraArguments: extraArguments)
        try await server.start()
        defer { server.kill() }
        return try await body(server)
    }

}

extension TestDaemon {
    /// Inserts a remote server (`http`: Streamable HTTP; `sse`: legacy HTTP+SSE) for the test's team.
    func registerHTTPServer(_ name: String, url: String, type: String = "http") async throws -> ServerDescriptor {
        let config = "{\"url\": \"\(url)\"}"
        let rows = try await database.query(
            "INSERT INTO mcp_servers (team_id, name, server_type, config) VALUES (\(team), \(name), \(type), \(config)::jsonb) RETURNING id, config::text",
            logger: logger
        ).collect()
        let (id, stored) = try rows[0].decode((UUID, String).self)
        return ServerDescriptor(id: id, name: name, serverType: type, isActive: true, configJSON: stored)
    }
}
