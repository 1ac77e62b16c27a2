import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import Synchronization

/// Carries an ``MCPConnection`` over the legacy HTTP+SSE transport (revision 2024-11-05):
/// a GET opens the server's event stream, whose `endpoint` event names where to POST messages
/// (accepted only on the stream's own origin); every reply arrives on the stream as a `message`
/// event. When the stream ends the connection closes, and the pool reconnects with backoff.
struct LegacySSETransport: HTTPTransport, MCPTransport {
    var endpoint: HTTPEndpoint

    /// Serves `connection` until the stream ends or the connection closes.
    func serve(_ connection: MCPConnection) async {
        let endpoint = Box<String>()
        let endpointKnown = AsyncEvent()
        await withDiscardingTaskGroup { group in
            group.addTask {
                await connection.closed.wait()
                endpointKnown.signal()
            }
            group.addTask {
                let failure = await readStream(connection: connection) { url in
                    endpoint.value = url
                    endpointKnown.signal()
                }
                connection.close(failure)
                endpointKnown.signal()
            }
            // Messages wait in the connection's buffer until the server has said where they go.
            await endpointKnown.wait()
            while let chunk = await connection.nextOutbound(), let url = endpoint.value {
                for message in chunk.split(separator: 0x0A) where !message.isEmpty {
                    let body = Array(message)
                    group.addTask { await post(body, to: url, connection: connection) }
                }
            }
            group.cancelAll()
        }
    }

    /// Reads the event stream until it ends; returns why it ended.
    private func readStream(connection: MCPConnection, onEndpoint: (String) -> Void) async -> MCPSessionError {
        var request = HTTPClientRequest(url: config.url)
        request.headers.add(name: "Accept", value: "text/event-stream")
        for (name, value) in credentialHeaders { request.headers.add(name: name, value: value) }
        do {
            let response = try await authorized(request) { try await client.execute($0, timeout: readTimeout, logger: logger) }
            guard response.status.code == 200 else {
                // Without its stream the session cannot work at all: whatever the status, it is down.
                var error = await statusError(reading: response)
                error.code = .disconnected
                return error
            }
            var parser = SSEParser(maxLineBytes: maxMessageBytes, maxEventBytes: maxMessageBytes)
            for try await buffer in response.body {
                for event in try parser.feed(buffer.readableBytesView) {
                    switch event.type {
                    case "endpoint":
                        guard let url = resolveEndpoint(event.data) else {
                            return MCPSessionError(.protocolError, "server '\(serverName)' named an endpoint on another origin: \(event.data.prefix(200))")
                        }
                        onEndpoint(url)
                    case "message":
                        Array(event.data.utf8).withUnsafeBytes { connection.receive(line: $0) }
                    default:
                        break
                    }
                }
            }
            return MCPSessionError(.disconnected, "server '\(serverName)' closed its event stream")
        } catch let error as SSEParser.TooLarge {
            return MCPSessionError(.messageTooLarge, "server '\(serverName)': \(error)")
        } catch {
            return unreachable(error)
        }
    }

    private func post(_ body: [UInt8], to url: String, connection: MCPConnection) async {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in credentialHeaders { request.headers.add(name: name, value: value) }
        let requestID = Self.describe(body).id
        var repeatable = true
        if let requestID {
            // Cancelled or timed out before it left: the server never gets it.
            guard let known = connection.isRepeatable(id: requestID) else { return }
            repeatable = known
        }
        do {
            let response = try await authorizedSend(request, body: body, repeatable: repeatable) {
                requestID.map { connection.isRepeatable(id: $0) != nil } ?? true
            }
            let excerpt = try await response.body.collect(upTo: 64 << 10)
            guard (200..<300).contains(response.status.code) else {
                if let requestID { connection.failRequest(id: requestID, statusError(response, excerpt: String(buffer: excerpt))) }
                return
            }
        } catch {
            if let requestID { connection.failRequest(id: requestID, unreachable(error)) }
        }
    }

    /// The endpoint as an absolute URL, if it is on the stream's own origin.
    private func resolveEndpoint(_ text: String) -> String? {
        guard let base = URL(string: config.url), let resolved = URL(string: text.trimmingCharacters(in: .whitespaces), relativeTo: base)?.absoluteURL,
            resolved.scheme == base.scheme, resolved.host == base.host, resolved.port == base.port
        else { return nil }
        return resolved.absoluteString
    }
}
