import AsyncHTTPClient
import Testing

@testable import AstraMCP

@Suite("HTTP status errors")
struct HTTPTransportTests {
    struct Transport: HTTPTransport {
        var serverName = "remote"
        var secrets = ["s3cret"]
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
