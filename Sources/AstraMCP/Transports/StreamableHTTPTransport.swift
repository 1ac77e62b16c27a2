import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import Synchronization

/// Carries an ``MCPConnection`` over MCP's Streamable HTTP transport (revision 2025-11-25):
/// every message is a POST accepting `application/json` and `text/event-stream`; a JSON reply
/// and an SSE reply (which may carry notifications and requests before the response) are both
/// read as they stream in. The `Mcp-Session-Id` from initialize and the negotiated
/// `MCP-Protocol-Version` go with every later request; a 404 on a session means it is gone, so
/// a new one is initialized transparently and the request sent again; DELETE ends the session
/// on shutdown.
///
/// Each POST runs in its own task, so a long tool call does not hold up the others; sizes are
/// capped while streaming.
struct StreamableHTTPTransport: HTTPTransport {
    var config: HTTPServerConfig
    var serverName: String
    var client: HTTPClient
    var logger: Logger
    var maxMessageBytes: Int
    /// Headers that present the server's credential, sent with every request.
    var credentialHeaders: [(String, String)] = []
    /// Secrets to keep out of every message (a server may echo a header back).
    var secrets: [String] = []
    /// How long to wait for the response head of a POST.
    var requestTimeout: TimeAmount = .seconds(30)

    /// The HTTP session: its id and the negotiated protocol revision.
    private final class SessionState: Sendable {
        let state = Mutex<(id: String?, protocolVersion: String?)>((nil, nil))
        var id: String? { state.withLock { $0.id } }
        var protocolVersion: String? { state.withLock { $0.protocolVersion } }
    }

    /// Serves `connection` until it closes or `stop` is signalled.
    func run(connection: MCPConnection, stop: AsyncEvent) async {
        let session = SessionState()
        await withDiscardingTaskGroup { group in
            group.addTask { await connection.runTimeoutSweeper() }
            group.addTask {
                await stop.wait()
                connection.close(MCPSessionError(.disconnected, "server '\(serverName)' was stopped"))
            }
            while let chunk = await connection.nextOutbound() {
                for message in chunk.split(separator: 0x0A) where !message.isEmpty {
                    let body = Array(message)
                    group.addTask { await post(body, connection: connection, session: session, mayRenewSession: true) }
                }
            }
            if let id = session.id { await deleteSession(id) }
            group.cancelAll()
        }
    }

    private func post(_ body: [UInt8], connection: MCPConnection, session: SessionState, mayRenewSession: Bool) async {
        let (requestID, isInitialize) = Self.describe(body)
        do {
            let response = try await client.execute(request(body, session: session), timeout: requestTimeout, logger: logger)
            if let id = response.headers.first(name: "Mcp-Session-Id") {
                session.state.withLock { $0.id = id }
            }
            switch response.status.code {
            case 200:
                let contentType = response.headers.first(name: "Content-Type")?.lowercased() ?? ""
                if contentType.hasPrefix("text/event-stream") {
                    var parser = SSEParser(maxLineBytes: maxMessageBytes, maxEventBytes: maxMessageBytes)
                    for try await buffer in response.body {
                        for event in try parser.feed(buffer.readableBytesView) where event.type == "message" {
                            deliver(Array(event.data.utf8), to: connection, session: session, isInitialize: isInitialize)
                        }
                    }
                } else {
                    let bytes = try await response.body.collect(upTo: maxMessageBytes)
                    deliver(Array(bytes.readableBytesView), to: connection, session: session, isInitialize: isInitialize)
                }
                // The reply is over; a request it did not answer never will be (a no-op if it was).
                if let requestID {
                    connection.failRequest(
                        id: requestID, MCPSessionError(.disconnected, "server '\(serverName)' ended its reply without answering"))
                }
            case 202:
                _ = try await response.body.collect(upTo: 64 << 10)
            case 404 where session.id != nil && mayRenewSession && !isInitialize:
                _ = try? await response.body.collect(upTo: 64 << 10)
                logger.info("server session expired; starting a new one", metadata: ["server": "\(serverName)"])
                try await renewSession(session)
                await post(body, connection: connection, session: session, mayRenewSession: false)
            default:
                let excerpt = (try? await response.body.collect(upTo: 2048)).map { String(buffer: $0) } ?? ""
                if let requestID { connection.failRequest(id: requestID, statusError(response.status.code, excerpt: excerpt)) }
            }
        } catch let error as SSEParser.TooLarge {
            if let requestID { connection.failRequest(id: requestID, MCPSessionError(.messageTooLarge, "server '\(serverName)': \(error)")) }
        } catch {
            if let requestID { connection.failRequest(id: requestID, unreachable(error)) }
        }
    }

    /// Hands one received message to the connection; remembers the negotiated revision.
    private func deliver(_ message: [UInt8], to connection: MCPConnection, session: SessionState, isInitialize: Bool) {
        message.withUnsafeBytes { bytes in
            if isInitialize, let version = Self.negotiatedVersion(bytes) {
                session.state.withLock { $0.protocolVersion = version }
            }
            connection.receive(line: bytes)
        }
    }

    private func request(_ body: [UInt8], session: SessionState) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: config.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json, text/event-stream")
        if let id = session.id { request.headers.add(name: "Mcp-Session-Id", value: id) }
        if let version = session.protocolVersion { request.headers.add(name: "MCP-Protocol-Version", value: version) }
        for (name, value) in credentialHeaders { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        return request
    }

    /// Initializes a new HTTP session after the old one expired (the MCP session's state —
    /// its tools, its capabilities — is the server's, so a fresh initialize is all it takes).
    private func renewSession(_ session: SessionState) async throws {
        session.state.withLock { $0.id = nil }
        let initialize = Array(
            """
            {"jsonrpc":"2.0","id":"astra-renew","method":"initialize","params":{"protocolVersion":"\(session.protocolVersion ?? MCPProtocol.requestedVersion)",\
            "capabilities":{},"clientInfo":{"name":"\(MCPProtocol.clientName)","version":"\(MCPProtocol.clientVersion)"}}}
            """.utf8)
        let response = try await client.execute(request(initialize, session: session), timeout: requestTimeout, logger: logger)
        guard response.status.code == 200, let id = response.headers.first(name: "Mcp-Session-Id") else {
            throw MCPSessionError(.disconnected, "server '\(serverName)' refused a new session (HTTP \(response.status.code))")
        }
        _ = try await response.body.collect(upTo: maxMessageBytes)
        session.state.withLock { $0.id = id }
        let initialized = Array(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.utf8)
        _ = try await client.execute(request(initialized, session: session), timeout: requestTimeout, logger: logger).body.collect(upTo: 64 << 10)
    }

    private func deleteSession(_ id: String) async {
        var request = HTTPClientRequest(url: config.url)
        request.method = .DELETE
        request.headers.add(name: "Mcp-Session-Id", value: id)
        for (name, value) in credentialHeaders { request.headers.add(name: name, value: value) }
        _ = try? await client.execute(request, timeout: .seconds(5), logger: logger)
    }

    /// `result.protocolVersion` of an initialize response.
    private static func negotiatedVersion(_ bytes: UnsafeRawBufferPointer) -> String? {
        let scanner = JSONScanner(bytes: bytes)
        guard let result = try? scanner.members().first(where: { $0.key == "result" }),
            let version = try? scanner.members(of: result.value).first(where: { $0.key == "protocolVersion" })
        else { return nil }
        return scanner.string(version.value)
    }
}
