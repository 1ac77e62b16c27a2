import AsyncHTTPClient
import Logging
import Testing

@testable import AstraMCP

@Suite("HTTP status errors")
struct HTTPTransportTests {
    struct Transport: HTTPTransport {
        var endpoint = HTTPEndpoint(
            config: HTTPServerConfig(url: "http://127.0.0.1:1/mcp"), serverName: "remote", client: .shared, singleUseClient: .shared,
            logger: Logger(label: "test"), maxMessageBytes: 1 << 20, secrets: ["s3cret"])
    }

    @Test("only our own requests have an id to fail: not our replies to the server's requests")
    func describesMessages() {
        let request = Transport.describe(Array(#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{}}"#.utf8))
        #expect(request.id == 7 && request.method == "tools/call")
        let reply = Transport.describe(Array(#"{"jsonrpc":"2.0","id":7,"result":{}}"#.utf8))
        #expect(reply.id == nil && reply.method == nil)
        let notification = Transport.describe(Array(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.utf8))
        #expect(notification.id == nil && notification.method == "notifications/initialized")
    }

    @Test("5xx and 429 are transient, with the wait Retry-After asks for; others are protocol errors; secrets redacted")
    func statusErrors() {
        let transport = Transport()
        let limited = transport.statusError(HTTPClientResponse(status: .tooManyRequests, headers: ["Retry-After": " 7 "]), excerpt: "slow down")
        #expect(limited.code == .disconnected)
        #expect(limited.retryAfter == .seconds(7))
        #expect(limited.message == "server 'remote' answered HTTP 429: slow down")

        let dated = transport.statusError(HTTPClientResponse(status: .serviceUnavailable, headers: ["Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"]), excerpt: "")
        #expect(dated.code == .disconnected)
        #expect(dated.retryAfter == nil)

        let refused = transport.statusError(HTTPClientResponse(status: .unauthorized), excerpt: "bad key s3cret")
        #expect(refused.code == .protocolError)
        #expect(!refused.message.contains("s3cret"))
    }
}
