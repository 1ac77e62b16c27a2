import AsyncHTTPClient
import Logging
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What an HTTP transport is given: where the server is, how to present its credential, and
/// the limits that apply.
struct HTTPEndpoint: Sendable {
    var config: HTTPServerConfig
    var serverName: String
    var client: HTTPClient
    /// A client that opens a connection for every request and never reuses one: for a request
    /// the server must not get twice, so that it never meets a kept-alive connection the server
    /// has just closed, where nobody can tell whether the server read it.
    var singleUseClient: HTTPClient
    var logger: Logger
    var maxMessageBytes: Int
    /// Headers that present the server's credential, sent with every request.
    var credentialHeaders: [(String, String)] = []
    /// Secrets to keep out of every message (a server may echo a header back).
    var secrets: [String] = []
    /// Gets the server's access tokens, when it uses the OAuth client credentials grant.
    var oauth: OAuthClient?
    /// How long to wait for a response head (the HTTP client's read timeout covers silences
    /// after it).
    var readTimeout: TimeAmount = .seconds(300)
    /// How many times a message is sent while each try meets a connection the server had
    /// already closed (see ``HTTPTransport/send(_:body:repeatable:)``).
    var maxSendsOnDeadConnections = 3
}

/// An HTTP request that failed before the HTTP client took its body: not one byte of the message
/// reached the server, whatever the error says.
struct RequestNeverSent: Error, CustomStringConvertible {
    var underlying: any Error
    var description: String { "\(underlying)" }
}

/// A request body of one buffer that notes whether the HTTP client ever asked for it.
/// AsyncHTTPClient asks for a streamed body only once the request head is written on a live
/// connection, and from a task of its own; until then the server cannot have the message.
final class TrackedBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer

    private let buffer: ByteBuffer
    private let taken = Atomic(false)

    init(_ bytes: [UInt8]) { buffer = ByteBuffer(bytes: bytes) }

    /// Whether the client took the body: from then on the server may have the message.
    var wasTaken: Bool { taken.load(ordering: .acquiring) }

    struct AsyncIterator: AsyncIteratorProtocol {
        let body: TrackedBody
        var done = false

        mutating func next() async -> ByteBuffer? {
            guard !done else { return nil }
            done = true
            body.taken.store(true, ordering: .releasing)
            return body.buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(body: self) }
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
    /// The fixed secrets and the OAuth client's current ones.
    var secrets: [String] { endpoint.secrets + (endpoint.oauth?.secrets ?? []) }
    var readTimeout: TimeAmount { endpoint.readTimeout }

    /// A non-success HTTP status: 5xx and 429 are the server being unavailable (transient),
    /// anything else a protocol problem. The body excerpt is redacted.
    func statusError(_ status: UInt, excerpt: String) -> MCPSessionError {
        var error = MCPSessionError(
            status >= 500 || status == 429 ? .disconnected : .protocolError,
            redacting(secrets, in: "server '\(serverName)' answered HTTP \(status): \(excerpt.prefix(200))"))
        error.httpStatus = status
        return error
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
        // Already said (an OAuth failure, a refused session): kept as it is.
        if var error = error as? MCPSessionError {
            error.message = redacting(secrets, in: error.message)
            return error
        }
        return MCPSessionError(
            .disconnected, redacting(secrets, in: "server '\(serverName)' could not be reached: \(error)"),
            requestNeverSent: error is RequestNeverSent)
    }

    /// Executes `request` with `body` (never empty), streamed so that it is known whether the
    /// client took it.
    ///
    /// HTTP/1.1 has a race no client can see coming: a server may close a kept-alive connection
    /// (its idle timeout) just as the pool reuses it, and the request then meets a dead
    /// connection. Whether the server read it first cannot be told, so:
    /// - a `repeatable` request that meets a dead connection before any answer is sent again, on
    ///   another connection (the pool has dropped the dead one);
    /// - one that is not goes on a connection of its own, opened for it: no server closes a
    ///   connection for being idle before its first request, so the race cannot happen, and a
    ///   connection that breaks under it may really have reached the server;
    /// - such a request's body is streamed, so that it is known whether the client took it: one
    ///   that fails before then never left the daemon and is thrown as ``RequestNeverSent``, so
    ///   the retry policy may try it again. A repeatable request goes as plain bytes.
    func send(_ request: HTTPClientRequest, body: [UInt8], repeatable: Bool = true) async throws -> HTTPClientResponse {
        var request = request
        var sends = 1
        while true {
            // Only a request that must not arrive twice needs to know whether its body was
            // taken; a repeatable one goes as plain bytes (no streaming task per request).
            let tracked = repeatable ? nil : TrackedBody(body)
            request.body = tracked.map { .stream($0, length: .known(Int64(body.count))) } ?? .bytes(ByteBuffer(bytes: body))
            do {
                return try await (repeatable ? client : endpoint.singleUseClient).execute(request, timeout: readTimeout, logger: logger)
            } catch {
                guard !body.isEmpty, !Task.isCancelled else { throw error }
                // Without a tracked body, only a connection that was never made proves it.
                let taken = tracked?.wasTaken ?? !Self.isConnectFailure(error)
                let mayResend = Self.isDeadConnection(error) && (repeatable || !taken) && sends < endpoint.maxSendsOnDeadConnections
                guard mayResend else { throw taken ? error : RequestNeverSent(underlying: error) }
                logger.debug(
                    "the connection was dead before the server answered; sending the request again",
                    metadata: ["server": "\(serverName)", "error": "\(error)", "body_taken": "\(taken)"])
                sends += 1
            }
        }
    }

    /// No connection could be made (refused, timed out): nothing was sent.
    static func isConnectFailure(_ error: any Error) -> Bool {
        if error is NIOConnectionError { return true }
        if let error = error as? HTTPClientError, error == .connectTimeout { return true }
        if let error = error as? IOError, error.errnoCode == ECONNREFUSED { return true }
        return false
    }

    /// The connection was dead before the request could use it: closed before the request got to
    /// it (`ioOnClosedChannel`), or closed by the server (`remoteConnectionClosed`).
    /// A reused connection the server had closed may also answer the request with a reset
    /// (`ECONNRESET`) or refuse the write (`EPIPE`).
    static func isDeadConnection(_ error: any Error) -> Bool {
        if (error as? HTTPClientError) == HTTPClientError.remoteConnectionClosed || (error as? ChannelError) == ChannelError.ioOnClosedChannel {
            return true
        }
        if let error = error as? IOError, error.errnoCode == ECONNRESET || error.errnoCode == EPIPE { return true }
        return false
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
