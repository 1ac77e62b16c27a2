import Foundation
import Logging
import MCP
import NIOCore
import NIOHTTP1
import NIOPosix

/// Serves the demo tools over MCP's Streamable HTTP transport on `http://HOST:PORT/mcp`.
///
/// The SDK's `StatefulHTTPServerTransport` does the protocol (one per MCP session, each with
/// its own `Server`); this type is the HTTP/1.1 plumbing around it, on NIO's async channels:
/// an `initialize` without a session id opens a session, a request naming an unknown session
/// gets 404 (so clients start a new one), DELETE ends one. Once listening, the URL is printed on
/// stdout, so whoever started the process can read where to connect.
struct DemoHTTPServer {
    let host: String
    let port: Int
    let logger: Logger
    let makeServer: @Sendable () async throws -> Server

    init(host: String, port: Int, logger: Logger, makeServer: @escaping @Sendable () async throws -> Server) {
        self.host = host
        self.port = port
        self.logger = logger
        self.makeServer = makeServer
    }

    static let endpoint = "/mcp"

    func run() async throws {
        let sessions = DemoHTTPSessions(makeServer: makeServer, logger: logger)
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                }
            }
        let boundPort = listener.channel.localAddress?.port ?? port
        FileHandle.standardOutput.write(Data("http://\(host):\(boundPort)\(Self.endpoint)\n".utf8))
        logger.info("Serving MCP over Streamable HTTP", metadata: ["port": "\(boundPort)", "tools": "\(DemoTool.all.count)"])
        try await withThrowingDiscardingTaskGroup { group in
            try await listener.executeThenClose { connections in
                for try await connection in connections {
                    group.addTask { await serve(connection, sessions: sessions) }
                }
            }
        }
    }

    /// Answers the requests of one HTTP/1.1 connection in turn.
    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, sessions: DemoHTTPSessions) async {
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body = ByteBuffer()
            for try await part in inbound {
                switch part {
                case .head(let requestHead):
                    head = requestHead
                    body.clear()
                case .body(var chunk):
                    body.writeBuffer(&chunk)
                case .end:
                    guard let requestHead = head else { continue }
                    let response = await respond(to: requestHead, body: body, sessions: sessions)
                    try await write(response, version: requestHead.version, to: outbound)
                }
            }
        }
    }

    private func respond(to head: HTTPRequestHead, body: ByteBuffer, sessions: DemoHTTPSessions) async -> HTTPResponse {
        let path = head.uri.split(separator: "?").first.map(String.init) ?? head.uri
        guard path == Self.endpoint else { return .error(statusCode: 404, .invalidRequest("Not Found")) }
        var headers: [String: String] = [:]
        for (name, value) in head.headers {
            headers[name] = headers[name].map { $0 + ", " + value } ?? value
        }
        let request = HTTPRequest(
            method: head.method.rawValue, headers: headers, body: body.readableBytes > 0 ? Data(body.readableBytesView) : nil, path: path)
        return await sessions.handle(request)
    }

    private func write(_ response: HTTPResponse, version: HTTPVersion, to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws {
        var head = HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: response.statusCode))
        for (name, value) in response.headers { head.headers.add(name: name, value: value) }
        if case .stream(let events, _) = response {
            try await outbound.write(.head(head))
            do {
                for try await chunk in events { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: chunk)))) }
            } catch let error as IOError {
                throw error  // the client went away
            } catch {
                logger.warning("event stream ended with an error", metadata: ["error": "\(error)"])
            }
            try await outbound.write(.end(nil))
            return
        }
        let body = response.bodyData ?? Data()
        head.headers.replaceOrAdd(name: "Content-Length", value: "\(body.count)")
        try await outbound.write(.head(head))
        if !body.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
        try await outbound.write(.end(nil))
    }
}

/// The MCP sessions of the HTTP server: each has its own transport and `Server`.
actor DemoHTTPSessions {
    private struct FixedSessionID: SessionIDGenerator {
        let id: String
        func generateSessionID() -> String { id }
    }

    private static func isInitialize(_ body: Data) -> Bool {
        (try? JSONSerialization.jsonObject(with: body) as? [String: Any])?["method"] as? String == "initialize"
    }

    private let makeServer: @Sendable () async throws -> Server
    private let logger: Logger
    private var sessions: [String: (server: Server, transport: StatefulHTTPServerTransport)] = [:]

    init(makeServer: @escaping @Sendable () async throws -> Server, logger: Logger) {
        self.makeServer = makeServer
        self.logger = logger
    }

    func handle(_ request: HTTPRequest) async -> HTTPResponse {
        if let id = request.header(HTTPHeaderName.sessionID) {
            guard let session = sessions[id] else {
                return .error(statusCode: 404, .invalidRequest("Not Found: no session \(id)"))
            }
            let response = await session.transport.handleRequest(request)
            if request.method == "DELETE", response.statusCode == 200 {
                sessions[id] = nil
                await session.server.stop()
            }
            return response
        }
        guard request.method == "POST", let body = request.body, Self.isInitialize(body) else {
            return .error(statusCode: 400, .invalidRequest("Bad Request: no \(HTTPHeaderName.sessionID) header"))
        }
        let id = UUID().uuidString
        let transport = StatefulHTTPServerTransport(sessionIDGenerator: FixedSessionID(id: id), logger: logger)
        do {
            let server = try await makeServer()
            try await server.start(transport: transport)
            sessions[id] = (server, transport)
            let response = await transport.handleRequest(request)
            if case .error = response {
                sessions[id] = nil
                await server.stop()
            }
            return response
        } catch {
            await transport.disconnect()
            return .error(statusCode: 500, .internalError("could not start a session: \(error)"))
        }
    }
}
