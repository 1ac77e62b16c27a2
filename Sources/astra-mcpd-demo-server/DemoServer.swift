import Foundation
import Logging
import MCP

/// Wires the demo tools into an MCP `Server` and serves it over stdin/stdout
/// until stdin closes and the requests already read are answered — or, with
/// `--http PORT`, over Streamable HTTP (see ``DemoHTTPServer``).
struct DemoServer {
    let options: DemoServerOptions
    let logger = Logger(label: "astra-mcpd-demo-server")

    func run() async throws {
        if let port = options.httpPort {
            try await DemoHTTPServer(host: options.httpHost, port: port, logger: logger) { try await makeServer() }.run()
            return
        }
        let server = try await makeServer()
        try await server.start(
            transport: DrainingTransport(StdioTransport(logger: logger), logger: logger),
            initializeHook: options.exitDuringInitialize ? Self.exitInsteadOfInitializing : nil
        )
        logger.info("Serving MCP over stdio", metadata: ["tools": "\(DemoTool.all.count)"])
        await server.waitUntilCompleted()
        await server.stop()
        logger.info("stdin closed; exiting")
    }

    /// A `Server` with the demo tools, not started yet.
    func makeServer() async throws -> Server {
        let server = Server(
            name: "astra-mcpd-demo-server",
            version: "0.1.0",
            capabilities: .init(tools: .init(listChanged: true))
        )
        let pages = ToolPages(tools: DemoTool.all.map(\.definition), pageSize: options.pageSize)

        await server.withMethodHandler(ListTools.self) { params in
            try pages.page(at: params.cursor)
        }
        await server.withMethodHandler(CallTool.self) { params in
            guard let tool = DemoTool.named(params.name) else {
                throw MCPError.invalidParams("Unknown tool: \(params.name)")
            }
            let progress = ProgressReporter(server: server, token: params._meta?.progressToken)
            return try await tool.call(with: params.arguments, progress: progress)
        }
        return server
    }

    /// The `--exit-during-initialize` behaviour: die mid-handshake, as a broken server would.
    @Sendable private static func exitInsteadOfInitializing(
        client: Client.Info, capabilities: Client.Capabilities
    ) async throws {
        StandardError.write(
            "astra-mcpd-demo-server: --exit-during-initialize: exiting with status 3 "
                + "instead of answering initialize from \(client.name)\n")
        exit(3)
    }
}

/// Splits the tool list into pages addressed by opaque cursors.
///
/// A cursor is the base64 of `offset:N`; clients must treat it as opaque, and
/// anything this server did not hand out is rejected as invalid params.
struct ToolPages: Sendable {
    let tools: [Tool]
    let pageSize: Int

    func page(at cursor: String?) throws -> ListTools.Result {
        let start = try cursor.map(offset(of:)) ?? 0
        let end = start + min(pageSize, tools.count - start)
        let nextCursor = end < tools.count ? Self.cursor(for: end) : nil
        return ListTools.Result(tools: Array(tools[start..<end]), nextCursor: nextCursor)
    }

    private static func cursor(for offset: Int) -> String {
        Data("offset:\(offset)".utf8).base64EncodedString()
    }

    private func offset(of cursor: String) throws -> Int {
        guard let data = Data(base64Encoded: cursor),
            let text = String(data: data, encoding: .utf8),
            text.hasPrefix("offset:"),
            let offset = Int(text.dropFirst("offset:".count)),
            offset > 0, offset < tools.count
        else {
            throw MCPError.invalidParams("Invalid cursor: \(cursor)")
        }
        return offset
    }
}

/// Sends `notifications/progress` for one request, if the request asked for
/// them by carrying a progress token; otherwise reporting does nothing.
struct ProgressReporter: Sendable {
    let server: Server
    let token: ProgressToken?

    func report(progress: Double, total: Double) async {
        guard let token else { return }
        let notification = ProgressNotification.message(
            .init(progressToken: token, progress: progress, total: total))
        do {
            try await server.notify(notification)
        } catch {
            // Progress is best effort: a lost notification must not fail the call.
            Logger(label: "astra-mcpd-demo-server")
                .warning("Could not send progress", metadata: ["error": "\(error)"])
        }
    }
}
