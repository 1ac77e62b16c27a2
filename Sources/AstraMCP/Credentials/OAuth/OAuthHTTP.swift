import AsyncHTTPClient
import Foundation
import Logging
import NIOCore

/// The HTTP an OAuth client does (metadata GETs, token POSTs), all through the daemon's
/// ``PinnedHTTPClients``: each host resolved, judged by the ``NetworkPolicy`` and pinned;
/// redirects never followed (a 3xx is an answer like any other); bodies bounded; a deadline
/// on each exchange; `https://` only, unless the server's config allows plain `http://`.
struct OAuthHTTP: Sendable {
    var clients: PinnedHTTPClients
    var allowInsecureHTTP: Bool
    var logger: Logger
    /// The most an exchange may take, answer body included. Defaults to `15` seconds.
    var timeout: Duration = .seconds(15)
    /// The largest answer read. Defaults to `256` KiB (metadata and tokens are small).
    var maxResponseBytes = 256 << 10

    struct Response: Sendable {
        var status: UInt
        var body: Data
    }

    /// GETs `url`, accepting JSON.
    func get(_ url: String) async throws(MCPSessionError) -> Response {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        return try await exchange(request)
    }

    /// POSTs a form to `url`.
    func postForm(_ url: String, body: String, headers: [(String, String)]) async throws(MCPSessionError) -> Response {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: body))
        return try await exchange(request)
    }

    private func exchange(_ request: HTTPClientRequest) async throws(MCPSessionError) -> Response {
        let url = request.url
        guard OAuthURLs.mayCarryCredentials(url, allowInsecureHTTP: allowInsecureHTTP) else {
            throw MCPSessionError(
                .misconfigured, "OAuth endpoint \(url.prefix(200)) is not https:// (set \"allow_insecure_http\": true if the network is trusted)")
        }
        let lease: PinnedHTTPClients.Lease
        do throws(PinnedHTTPClients.Refused) {
            lease = try await clients.lease(for: url)
        } catch {
            throw MCPSessionError(error.transient ? .disconnected : .misconfigured, "OAuth endpoint \(url.prefix(200)): \(error.description)")
        }
        do {
            let deadline = NIODeadline.now() + TimeAmount(timeout)
            let response = try await lease.client.execute(request, deadline: deadline, logger: logger)
            let body = try await withDeadline(timeout) { try await response.body.collect(upTo: maxResponseBytes) }
            await clients.release(lease)
            return Response(status: response.status.code, body: Data(body.readableBytesView))
        } catch {
            await clients.release(lease)
            // The session that asked was stopped: not a fault of the endpoint.
            if Task.isCancelled || error is CancellationError {
                throw MCPSessionError(.cancelled, "stopped while talking to OAuth endpoint \(url.prefix(200))")
            }
            if let error = error as? MCPSessionError { throw error }
            if error is NIOTooManyBytesError {
                throw MCPSessionError(.misconfigured, "OAuth endpoint \(url.prefix(200)) answered more than \(maxResponseBytes) bytes")
            }
            throw MCPSessionError(.disconnected, "OAuth endpoint \(url.prefix(200)) could not be reached: \(error)")
        }
    }

    /// Runs `body`, failing with a `disconnected` error after `limit`.
    private func withDeadline<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw MCPSessionError(.disconnected, "an OAuth endpoint did not answer within \(limit)")
            }
            return value
        }
    }
}
