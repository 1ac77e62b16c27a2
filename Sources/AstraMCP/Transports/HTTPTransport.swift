import AsyncHTTPClient
import Logging
import NIOCore

/// What an HTTP transport is given: where the server is, how to present its credential, and
/// the limits that apply.
struct HTTPEndpoint: Sendable {
    var config: HTTPServerConfig
    var serverName: String
    var client: HTTPClient
    var logger: Logger
    var maxMessageBytes: Int
    /// Headers that present the server's credential, sent with every request.
    var credentialHeaders: [(String, String)] = []
    /// Secrets to keep out of every message (a server may echo a header back).
    var secrets: [String] = []
    /// How long to wait for a response head (the HTTP client's read timeout covers silences
    /// after it).
    var readTimeout: TimeAmount = .seconds(300)
}

/// What the HTTP transports share: their endpoint, how they name a failure and find the
/// request a message is.
protocol HTTPTransport: Sendable {
    var endpoint: HTTPEndpoint { get }
}

extension HTTPTransport {
    var config: HTTPServerConfig { endpoint.config }
    var serverName: String { endpoint.serverName }
    var client: HTTPClient { endpoint.client }
    var logger: Logger { endpoint.logger }
    var maxMessageBytes: Int { endpoint.maxMessageBytes }
    var credentialHeaders: [(String, String)] { endpoint.credentialHeaders }
    var secrets: [String] { endpoint.secrets }
    var readTimeout: TimeAmount { endpoint.readTimeout }

    /// A non-success HTTP status: 5xx and 429 are the server being unavailable (transient),
    /// anything else a protocol problem. The body excerpt is redacted.
    func statusError(_ status: UInt, excerpt: String) -> MCPSessionError {
        MCPSessionError(
            status >= 500 || status == 429 ? .disconnected : .protocolError,
            redacting(secrets, in: "server '\(serverName)' answered HTTP \(status): \(excerpt.prefix(200))"))
    }

    /// ``statusError(_:excerpt:)`` with the wait a 429 or 503 asks for in `Retry-After`
    /// (in seconds; the HTTP-date form is ignored).
    func statusError(_ response: HTTPClientResponse, excerpt: String) -> MCPSessionError {
        var error = statusError(response.status.code, excerpt: excerpt)
        if let value = response.headers.first(name: "Retry-After"), let seconds = Int(value.trimmingCharacters(in: .whitespaces)), seconds >= 0 {
            error.retryAfter = .seconds(min(seconds, 3600))
        }
        return error
    }

    /// ``statusError(_:excerpt:)`` with the start of the response's body as the excerpt.
    func statusError(reading response: HTTPClientResponse) async -> MCPSessionError {
        let excerpt = (try? await response.body.collect(upTo: 2048)).map { String(buffer: $0) } ?? ""
        return statusError(response, excerpt: excerpt)
    }

    /// The server could not be reached, or the connection broke.
    func unreachable(_ error: any Error) -> MCPSessionError {
        MCPSessionError(.disconnected, redacting(secrets, in: "server '\(serverName)' could not be reached: \(error)"))
    }

    /// What an outgoing message is: the integer id of a request of ours (nil for a notification,
    /// and for our reply to a server's request, whose id is the server's), and its method.
    static func describe(_ body: [UInt8]) -> (id: Int?, method: String?) {
        body.withUnsafeBytes { bytes in
            let scanner = JSONScanner(bytes: bytes)
            guard let members = try? scanner.members() else { return (nil, nil) }
            var id: Int?
            var method: String?
            for member in members {
                if member.key == "id" { id = scanner.integer(member.value) }
                if member.key == "method" { method = scanner.string(member.value) }
            }
            return (method == nil ? nil : id, method)
        }
    }
}
