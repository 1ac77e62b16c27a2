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
/// A reply stream that ends before its answer is resumed with a GET carrying `Last-Event-ID`
/// when the server gave event ids (after the `retry` time it asked for). After initialize a GET
/// opens the server's own stream for messages it sends unasked (`tools/list_changed`, pings),
/// reopened when it drops; a server that offers none answers 405 and is not asked again.
///
/// Each POST runs in its own task, so a long tool call does not hold up the others; sizes are
/// capped while streaming.
struct StreamableHTTPTransport: HTTPTransport, MCPTransport {
    var endpoint: HTTPEndpoint
    /// How many times in a row a reply stream is resumed without bringing a new event.
    var maxResumesWithoutProgress = 3

    /// The HTTP session (``HTTPSessionStateMachine``) and the event its renewal waiters wait on.
    private final class SessionState: Sendable {
        private let state = Mutex((machine: HTTPSessionStateMachine(), renewal: AsyncEvent?.none))
        /// Signalled once the server has accepted `notifications/initialized`.
        let initialized = AsyncEvent()
        var id: String? { state.withLock { $0.machine.sessionID } }
        var protocolVersion: String? { state.withLock { $0.machine.protocolVersion } }

        func update(_ event: (inout HTTPSessionStateMachine) -> Void) {
            state.withLock { event(&$0.machine) }
        }

        /// Who renews session `expired`, and the event that says it is done.
        func expired(_ expired: String) -> (HTTPSessionStateMachine.RenewalRole, AsyncEvent?) {
            state.withLock { state in
                let role = state.machine.sessionExpired(expired)
                if role == .renew { state.renewal = AsyncEvent() }
                return (role, state.renewal)
            }
        }

        /// Ends a renewal: the new session id, or nil when it failed.
        func renewalEnded(sessionID: String?) {
            let renewal = state.withLock { state in
                if let sessionID { state.machine.renewed(sessionID: sessionID) } else { state.machine.renewalFailed() }
                defer { state.renewal = nil }
                return state.renewal
            }
            renewal?.signal()
        }
    }

    /// Serves `connection` until it closes.
    func serve(_ connection: MCPConnection) async {
        let session = SessionState()
        await withDiscardingTaskGroup { group in
            group.addTask {
                await session.initialized.wait()
                await listenForServerMessages(connection: connection, session: session)
            }
            while let chunk = await connection.nextOutbound() {
                for message in chunk.split(separator: 0x0A) where !message.isEmpty {
                    let body = Array(message)
                    group.addTask { await post(body, connection: connection, session: session, mayRenewSession: true) }
                }
            }
            // End the HTTP session too. The DELETE runs in a task of its own, which the
            // cancellation of this one (the pool cancels its sessions on shutdown) does not reach.
            if session.id != nil { await Task { await deleteSession(session) }.value }
            session.update { $0.close() }
            group.cancelAll()
        }
    }

    private func post(_ body: [UInt8], connection: MCPConnection, session: SessionState, mayRenewSession: Bool) async {
        let (requestID, method) = Self.describe(body)
        let isInitialize = method == "initialize"
        let sessionID = session.id
        do {
            var repeatable = true
            if let requestID {
                // Cancelled or timed out before it left: the server never gets it.
                guard let known = connection.isRepeatable(id: requestID) else { return }
                repeatable = known
            }
            let response = try await authorizedSend(request(session: session), body: body, repeatable: repeatable) {
                requestID.map { connection.isRepeatable(id: $0) != nil } ?? true
            }
            // The server names the session in its answer to initialize (later answers may echo
            // it, but one arriving late must not bring back an expired session).
            if isInitialize {
                let id = response.headers.first(name: "Mcp-Session-Id")
                session.update { $0.initializeAnswered(sessionID: id) }
            }
            switch response.status.code {
            case 200:
                var failure: MCPSessionError?
                var unanswered = "ended its reply without answering"
                if Self.isEventStream(response) {
                    var parser = SSEParser(maxLineBytes: maxMessageBytes, maxEventBytes: maxMessageBytes)
                    failure = await readEvents(response, parser: &parser, connection: connection, session: session, isInitialize: isInitialize).failure
                    if let requestID, connection.isAwaiting(id: requestID), !parser.lastEventID.isEmpty, failure?.code != .messageTooLarge {
                        failure = await resume(requestID, parser: &parser, connection: connection, session: session)
                    }
                    if parser.lastEventID.isEmpty { unanswered += " (its stream gave no event id to resume it with)" }
                } else {
                    let bytes = try await response.body.collect(upTo: maxMessageBytes)
                    deliver(Array(bytes.readableBytesView), to: connection, session: session, isInitialize: isInitialize)
                }
                // The reply is over; a request it did not answer never will be (a no-op if it was).
                if let requestID {
                    connection.failRequest(id: requestID, failure ?? MCPSessionError(.disconnected, "server '\(serverName)' \(unanswered)"))
                }
            case 202:
                _ = try await response.body.collect(upTo: 64 << 10)
                if method == "notifications/initialized" { session.initialized.signal() }
            case 404 where sessionID != nil && mayRenewSession && !isInitialize:
                _ = try? await response.body.collect(upTo: 64 << 10)
                try await renewSession(session, expired: sessionID!)
                await post(body, connection: connection, session: session, mayRenewSession: false)
            default:
                let error = await statusError(reading: response)
                if let requestID { connection.failRequest(id: requestID, error) }
            }
        } catch {
            if let requestID { connection.failRequest(id: requestID, unreachable(error)) }
        }
    }

    /// Delivers every `message` event of an SSE body; returns why the stream broke (nil when it
    /// ended cleanly) and how many messages it delivered. With `until`, stops once that request
    /// has its answer.
    @discardableResult
    private func readEvents(
        _ response: HTTPClientResponse, parser: inout SSEParser, connection: MCPConnection, session: SessionState,
        isInitialize: Bool = false, until requestID: Int? = nil
    ) async -> (failure: MCPSessionError?, delivered: Int) {
        var delivered = 0
        do {
            for try await buffer in response.body {
                // A priming event (an id, maybe `retry`, empty data) is no message.
                for event in try parser.feed(buffer.readableBytesView) where event.type == "message" && !event.data.isEmpty {
                    deliver(Array(event.data.utf8), to: connection, session: session, isInitialize: isInitialize)
                    delivered += 1
                }
                if let requestID, !connection.isAwaiting(id: requestID) { return (nil, delivered) }
            }
            return (nil, delivered)
        } catch let error as SSEParser.TooLarge {
            return (MCPSessionError(.messageTooLarge, "server '\(serverName)': \(error)"), delivered)
        } catch {
            return (unreachable(error), delivered)
        }
    }

    /// Resumes a reply stream that ended before its answer: waits the server's `retry` time,
    /// then GETs the stream again with `Last-Event-ID`, for as long as that brings new events.
    /// - Returns: Why the answer cannot come, or nil once it came.
    private func resume(_ requestID: Int, parser: inout SSEParser, connection: MCPConnection, session: SessionState) async -> MCPSessionError? {
        var fruitless = 0
        var lastFailure: MCPSessionError?
        while fruitless < maxResumesWithoutProgress, connection.isAwaiting(id: requestID), !connection.isClosed {
            let lastEventID = parser.lastEventID
            do {
                try await Task.sleep(for: .milliseconds(min(max(parser.retryMilliseconds ?? 500, 100), 10_000)))
            } catch {
                return MCPSessionError(.disconnected, "server '\(serverName)' was stopped")
            }
            parser.finish()
            logger.debug("resuming a reply stream", metadata: ["server": "\(serverName)", "last_event_id": "\(lastEventID)"])
            do {
                let response = try await authorized(streamRequest(session: session, lastEventID: lastEventID)) {
                    try await client.execute($0, timeout: readTimeout, logger: logger)
                }
                guard response.status.code == 200, Self.isEventStream(response) else {
                    let error = await statusError(reading: response)
                    return MCPSessionError(error.code, "\(error.message) (resuming a cut reply with Last-Event-ID)")
                }
                lastFailure = await readEvents(response, parser: &parser, connection: connection, session: session, until: requestID).failure
                if lastFailure?.code == .messageTooLarge { return lastFailure }
            } catch {
                lastFailure = unreachable(error)
            }
            fruitless = parser.lastEventID == lastEventID ? fruitless + 1 : 0
        }
        guard connection.isAwaiting(id: requestID) else { return nil }
        return lastFailure.map { MCPSessionError($0.code, "\($0.message) (resuming a cut reply)") }
            ?? MCPSessionError(.disconnected, "server '\(serverName)' cut its reply, and resuming it brought no answer")
    }

    /// Keeps the server's own stream open (GET) and delivers what it sends: reopened after it
    /// drops, with `Last-Event-ID` when the server gave ids, and with backoff while the server
    /// is down or its session gone; given up on a 405 (the server offers none) or another refusal.
    private func listenForServerMessages(connection: MCPConnection, session: SessionState) async {
        var parser = SSEParser(maxLineBytes: maxMessageBytes, maxEventBytes: maxMessageBytes)
        var failures = 0
        while !Task.isCancelled, !connection.isClosed {
            let lastEventID = parser.lastEventID
            do {
                let response = try await authorized(streamRequest(session: session, lastEventID: lastEventID.isEmpty ? nil : lastEventID)) {
                    try await client.execute($0, timeout: readTimeout, logger: logger)
                }
                guard response.status.code == 200, Self.isEventStream(response) else {
                    _ = try? await response.body.collect(upTo: 2048)
                    // 404: the session expired; the next POST starts a new one, try with that.
                    // 5xx, 429: down for now.
                    let status = response.status.code
                    guard status == 404 || status == 429 || status >= 500 else {
                        logger.debug("server offers no stream of its own", metadata: ["server": "\(serverName)", "http_status": "\(status)"])
                        return
                    }
                    throw MCPSessionError(.disconnected, "HTTP \(status)")
                }
                let (failure, delivered) = await readEvents(response, parser: &parser, connection: connection, session: session)
                if failure?.code == .messageTooLarge {
                    logger.warning("closed the server's own stream", metadata: ["server": "\(serverName)", "error": "\(failure!.message)"])
                }
                // A stream that brought nothing backs off like a failure, whatever `retry` says.
                failures = delivered > 0 ? 0 : failures + 1
            } catch {
                failures += 1
            }
            parser.finish()
            let delay = failures == 0
                ? Duration.milliseconds(min(max(parser.retryMilliseconds ?? 1000, 1000), 30_000))
                : Backoff.delay(failedAttempt: failures, base: .seconds(1), cap: .seconds(60))
            try? await Task.sleep(for: delay)
        }
    }

    /// Hands one received message to the connection; remembers the negotiated revision.
    private func deliver(_ message: [UInt8], to connection: MCPConnection, session: SessionState, isInitialize: Bool) {
        message.withUnsafeBytes { bytes in
            if isInitialize, let version = Self.negotiatedVersion(bytes) {
                session.update { $0.negotiated(protocolVersion: version) }
            }
            connection.receive(line: bytes)
        }
    }

    /// A POST, for ``send(_:body:repeatable:)``; with `sessionID` nil, outside any session (a new initialize).
    private func request(session: SessionState, sessionID: String?? = .none) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: config.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json, text/event-stream")
        addSessionHeaders(to: &request, session: session, sessionID: sessionID)
        return request
    }

    /// A GET of the server's stream: its own, or a cut reply's when `lastEventID` is given.
    private func streamRequest(session: SessionState, lastEventID: String?) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: config.url)
        request.method = .GET
        request.headers.add(name: "Accept", value: "text/event-stream")
        if let lastEventID { request.headers.add(name: "Last-Event-ID", value: lastEventID) }
        addSessionHeaders(to: &request, session: session)
        return request
    }

    private func addSessionHeaders(to request: inout HTTPClientRequest, session: SessionState, sessionID: String?? = .none) {
        if let id = sessionID ?? session.id { request.headers.add(name: "Mcp-Session-Id", value: id) }
        if let version = session.protocolVersion { request.headers.add(name: "MCP-Protocol-Version", value: version) }
        for (name, value) in credentialHeaders { request.headers.add(name: name, value: value) }
    }

    /// Replaces the session `expired` after a 404 — once, however many requests got the 404:
    /// the first initializes a new session, the others wait for it (and requests sent meanwhile
    /// carry the old id, get a 404 and wait too).
    private func renewSession(_ session: SessionState, expired: String) async throws {
        let (role, renewal) = session.expired(expired)
        switch role {
        case .alreadyRenewed:
            return
        case .wait:
            await renewal?.wait()
        case .renew:
            logger.info("server session expired; starting a new one", metadata: ["server": "\(serverName)"])
            var newID: String?
            defer { session.renewalEnded(sessionID: newID) }
            newID = try await initializeNewSession(session)
        }
    }

    /// Initializes a new HTTP session (the MCP session's state — its tools, its capabilities —
    /// is the server's, so a fresh initialize is all it takes). Returns the new session's id.
    private func initializeNewSession(_ session: SessionState) async throws -> String {
        let initialize = Array(
            """
            {"jsonrpc":"2.0","id":"astra-renew","method":"initialize","params":{"protocolVersion":"\(session.protocolVersion ?? MCPProtocol.requestedVersion)",\
            "capabilities":{},"clientInfo":{"name":"\(MCPProtocol.clientName)","version":"\(MCPProtocol.clientVersion)"}}}
            """.utf8)
        let response = try await authorizedSend(request(session: session, sessionID: .some(nil)), body: initialize)
        guard response.status.code == 200, let id = response.headers.first(name: "Mcp-Session-Id") else {
            throw MCPSessionError(.disconnected, "server '\(serverName)' refused a new session (HTTP \(response.status.code))")
        }
        _ = try await response.body.collect(upTo: maxMessageBytes)
        let initialized = Array(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.utf8)
        _ = try await authorizedSend(request(session: session, sessionID: id), body: initialized).body.collect(upTo: 64 << 10)
        return id
    }

    /// Ends the HTTP session (with `MCP-Protocol-Version`, which every request after initialize
    /// carries).
    private func deleteSession(_ session: SessionState) async {
        var request = HTTPClientRequest(url: config.url)
        request.method = .DELETE
        addSessionHeaders(to: &request, session: session)
        _ = try? await authorized(request) { try await client.execute($0, timeout: .seconds(5), logger: logger) }.body.collect(upTo: 64 << 10)
    }

    private static func isEventStream(_ response: HTTPClientResponse) -> Bool {
        (response.headers.first(name: "Content-Type")?.lowercased() ?? "").hasPrefix("text/event-stream")
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
