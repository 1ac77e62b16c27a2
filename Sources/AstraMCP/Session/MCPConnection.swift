import Logging
import Synchronization

/// One JSON-RPC conversation with an MCP server, independent of the bytes' transport.
///
/// Requests get integer ids and wait on a continuation stored under that id; the transport's
/// reader hands every received line to ``receive(line:)``, which resumes the waiter directly —
/// no actor hop, no task per message. Outgoing messages are appended to one buffer that the
/// transport's writer drains, so many requests issued together leave in one write.
///
/// When the transport ends, ``close(_:)`` fails every pending request at once: a dead server
/// never leaves a caller waiting.
public final class MCPConnection: Sendable {
    /// Callbacks for notifications the server sends. They run inline on the reader and must
    /// return quickly (hand work to another task if it may wait).
    public struct Handlers: Sendable {
        /// `notifications/progress`: token, progress, total, message.
        public var progress: @Sendable (String, Double, Double?, String?) -> Void = { _, _, _, _ in }
        /// `notifications/tools/list_changed`.
        public var toolsListChanged: @Sendable () -> Void = {}

        public init() {}
    }

    private struct Pending {
        var continuation: CheckedContinuation<MCPResponse, any Error>
        /// When the request times out: the sooner of its last sign of life plus `idleTimeout`
        /// and `hardDeadline`.
        var deadline: ContinuousClock.Instant?
        /// How long the request may go without a sign of life (a progress notification for
        /// its `progressToken` resets it).
        var idleTimeout: Duration?
        /// The cap nothing extends.
        var hardDeadline: ContinuousClock.Instant?
        /// The `_meta.progressToken` the request carries, if any.
        var progressToken: String?
        var method: String
        /// The number of outbound chunks the transport had taken when this request's bytes
        /// were buffered: the request left the daemon only once `chunksTaken` is past it.
        var chunk: Int
        /// Whether sending it twice is harmless: false for a call to a tool that is not
        /// idempotent, which the transport then never sends on a connection it may find dead.
        var repeatable: Bool
    }

    private struct State {
        var nextID = 1
        var pending: [Int: Pending] = [:]
        /// The pending requests by the progress token they carry.
        var progressTokens: [String: Int] = [:]
        /// Tokens whose progress is wanted though no request carries them now: a task's token
        /// stays valid until the task ends, across the polls.
        var heldTokens: Set<String> = []
        /// Tokens cancelled before their request was made: that request fails at once, unsent.
        var cancelledTokens: Set<String> = []
        var closedReason: MCPSessionError?
        var outbound: [UInt8] = []
        /// How many times the transport took the outbound buffer.
        var chunksTaken = 0
        /// Sweeps in a row that timed calls out; a reply or progress resets it.
        var consecutiveTimeouts = 0
        /// Run once nothing is pending (a retired session stops after its last call).
        var idleActions: [@Sendable () -> Void] = []
        var writer: CheckedContinuation<[UInt8]?, Never>?
        /// When the timeout sweeper will next look (nil: it sleeps until told): a request with
        /// an earlier deadline wakes it.
        var plannedSweep: ContinuousClock.Instant?

        /// Removes a pending request, and its progress token with it.
        mutating func removePending(_ id: Int) -> Pending? {
            guard let removed = pending.removeValue(forKey: id) else { return nil }
            if let token = removed.progressToken { progressTokens.removeValue(forKey: token) }
            return removed
        }
    }

    /// The server's name, for messages and logs.
    public let serverName: String
    let logger: Logger
    let handlers: Handlers
    /// The largest message accepted from the server, in bytes.
    let maxMessageBytes: Int
    /// After this many requests in a row time out with no reply in between, the server counts
    /// as hung and the connection closes, so the pool replaces it.
    let hungAfterTimeouts: Int
    private let state = Mutex(State())
    /// Wakes the timeout sweeper: an earlier deadline, or the connection closed.
    private let sweeperWake = WakeSignal()
    /// Signalled when the connection closes, whoever closed it: its transport then stops.
    let closed = AsyncEvent()
    /// The server's credentials: never repeated in an error's text.
    private let secrets = Mutex<[String]>([])
    /// Secrets that change while the connection lives (OAuth access tokens).
    private let changingSecrets = Mutex<(@Sendable () -> [String])?>(nil)

    public init(
        serverName: String,
        logger: Logger,
        handlers: Handlers = Handlers(),
        maxMessageBytes: Int = 16 << 20,
        hungAfterTimeouts: Int = 3
    ) {
        self.serverName = serverName
        self.logger = logger
        self.handlers = handlers
        self.maxMessageBytes = maxMessageBytes
        self.hungAfterTimeouts = hungAfterTimeouts
    }

    // MARK: Requests

    /// Sends a request and waits for its response.
    ///
    /// - Parameters:
    ///   - method: The JSON-RPC method.
    ///   - params: The `params` object as JSON text, inserted verbatim; nil for none.
    ///   - timeout: How long to wait without a sign of life; on expiry the request fails with
    ///     ``MCPSessionError/Code/timeout`` and the server is sent `notifications/cancelled`. Each
    ///     progress notification for `progressToken` starts it again.
    ///   - maxDuration: The cap on the whole request, which progress does not extend.
    ///   - progressToken: The `_meta.progressToken` inside `params`, if any: its progress
    ///     notifications are handed to ``Handlers/progress`` and keep the request alive, and
    ///     ``cancel(progressToken:reason:)`` finds the request by it.
    ///   - repeatable: Whether the server may harmlessly get it twice. A transport sends a request
    ///     that is not only where no earlier use of the connection can have left it dead, and
    ///     sends it again only if it provably never left.
    /// - Returns: The response; a JSON-RPC error reply is thrown as ``MCPSessionError/Code/remoteError``.
    public func request(
        _ method: String, params: String?, timeout: Duration?, maxDuration: Duration? = nil, progressToken: String? = nil,
        repeatable: Bool = true
    ) async throws -> MCPResponse {
        let id = state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        var message = "{\"jsonrpc\":\"2.0\",\"id\":\(id),\"method\":\"\(method)\""
        if let params { message += ",\"params\":" + params }
        message += "}\n"
        let now = ContinuousClock.now
        let hardDeadline = maxDuration.map { now.advanced(by: $0) }
        let deadline = Self.earlier(timeout.map { now.advanced(by: $0) }, hardDeadline)

        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<MCPResponse, any Error>) in
                var writer: CheckedContinuation<[UInt8]?, Never>?
                var writerChunk: [UInt8] = []
                var wakeSweeper = false
                let closed: MCPSessionError? = state.withLock { state in
                    if let reason = state.closedReason { return reason }
                    if let progressToken, state.cancelledTokens.remove(progressToken) != nil {
                        return MCPSessionError(.cancelled, "request \(method) cancelled before it was sent")
                    }
                    state.pending[id] = Pending(
                        continuation: continuation, deadline: deadline, idleTimeout: timeout, hardDeadline: hardDeadline,
                        progressToken: progressToken, method: method, chunk: state.chunksTaken, repeatable: repeatable)
                    if let progressToken { state.progressTokens[progressToken] = id }
                    if let deadline, state.plannedSweep.map({ deadline < $0 }) ?? true {
                        state.plannedSweep = deadline
                        wakeSweeper = true
                    }
                    state.outbound.append(contentsOf: message.utf8)
                    if let waiting = state.writer {
                        writer = waiting
                        state.writer = nil
                        swap(&writerChunk, &state.outbound)
                        state.chunksTaken += 1
                    }
                    return nil
                }
                if var closed {
                    closed.requestNeverSent = true  // it was never buffered, let alone written
                    continuation.resume(throwing: closed)
                    return
                }
                writer?.resume(returning: writerChunk)
                if wakeSweeper { sweeperWake.signal() }
                if Task.isCancelled { self.cancel(id: id, reason: "cancelled by astra-mcpd") }
            }
        } onCancel: {
            self.cancel(id: id, reason: "cancelled by astra-mcpd")
        }
    }

    /// Sends a notification (no reply expected).
    public func notify(_ method: String, params: String?) {
        var message = "{\"jsonrpc\":\"2.0\",\"method\":\"\(method)\""
        if let params { message += ",\"params\":" + params }
        message += "}\n"
        enqueue(message)
    }

    /// Runs `action` once no request is pending (at once if none is, or once closed): a session
    /// taken out of service finishes the calls it has before it stops.
    public func whenIdle(_ action: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { state in
            if state.pending.isEmpty || state.closedReason != nil { return true }
            state.idleActions.append(action)
            return false
        }
        if runNow { action() }
    }

    private func runIdleActions() {
        let actions: [@Sendable () -> Void] = state.withLock { state in
            guard !state.idleActions.isEmpty, state.pending.isEmpty || state.closedReason != nil else { return [] }
            defer { state.idleActions = [] }
            return state.idleActions
        }
        for action in actions { action() }
    }

    /// The number of requests waiting for a reply.
    public var pendingCount: Int { state.withLock { $0.pending.count } }

    /// Whether request `id` still waits for its reply.
    func isAwaiting(id: Int) -> Bool { state.withLock { $0.pending[id] != nil } }

    /// Whether the server may harmlessly get request `id` twice (see ``request(_:params:timeout:repeatable:)``);
    /// nil for a request no longer pending (cancelled or timed out before it left), which is
    /// not to be sent at all.
    func isRepeatable(id: Int) -> Bool? { state.withLock { $0.pending[id]?.repeatable } }

    /// Whether the connection has ended.
    public var isClosed: Bool { state.withLock { $0.closedReason != nil } }

    private func enqueue(_ message: String) {
        var writerChunk: [UInt8] = []
        let writer: CheckedContinuation<[UInt8]?, Never>? = state.withLock { state in
            guard state.closedReason == nil else { return nil }
            state.outbound.append(contentsOf: message.utf8)
            guard let waiting = state.writer else { return nil }
            state.writer = nil
            swap(&writerChunk, &state.outbound)
            state.chunksTaken += 1
            return waiting
        }
        writer?.resume(returning: writerChunk)
    }

    /// Fails request `id` locally and tells the server to stop working on it.
    private func cancel(id: Int, reason: String) {
        let pending = state.withLock { $0.removePending(id) }
        guard let pending else { return }
        notify("notifications/cancelled", params: "{\"requestId\":\(id),\"reason\":\(JSONScanner.quote(reason))}")
        pending.continuation.resume(throwing: MCPSessionError(.cancelled, "request \(pending.method) cancelled"))
        runIdleActions()
    }

    /// Cancels the pending request that carries `progressToken`: the server is sent
    /// `notifications/cancelled` with its request id, the request fails with
    /// ``MCPSessionError/Code/cancelled``, and a reply arriving later is ignored.
    /// - Returns: Whether such a request was pending.
    /// A token no request carries yet is remembered: the request made with it next fails at once,
    /// never sent (a cancel may come between a caller's decision to call and the request).
    @discardableResult
    public func cancel(progressToken: String, reason: String) -> Bool {
        let id: Int? = state.withLock { state in
            if let id = state.progressTokens[progressToken] { return id }
            // Bounded: only calls this process is about to make are cancelled this way.
            if state.cancelledTokens.count >= 4096 { state.cancelledTokens.removeAll() }
            state.cancelledTokens.insert(progressToken)
            return nil
        }
        guard let id else { return false }
        cancel(id: id, reason: reason)
        return true
    }

    /// The request id of the pending request that carries `progressToken`.
    func requestID(progressToken: String) -> Int? { state.withLock { $0.progressTokens[progressToken] } }

    /// Redacts `secrets` (and their base64 forms) from the server's JSON-RPC error text from
    /// now on, before any of it is stored or logged.
    public func redact(_ secrets: [String]) {
        guard !secrets.isEmpty else { return }
        self.secrets.withLock { $0.append(contentsOf: secrets) }
    }

    /// Redacts whatever `secrets` gives at the time (tokens that are replaced while the
    /// connection lives), as ``redact(_:)`` does.
    func redact(changing secrets: @escaping @Sendable () -> [String]) {
        changingSecrets.withLock { $0 = secrets }
    }

    /// Keeps handing `token`'s progress to ``Handlers/progress`` after its request ended (a
    /// task's progress goes on while it is polled), until ``releaseProgressToken(_:)``.
    public func holdProgressToken(_ token: String) {
        state.withLock { _ = $0.heldTokens.insert(token) }
    }

    public func releaseProgressToken(_ token: String) {
        state.withLock { _ = $0.heldTokens.remove(token) }
    }

    /// When pending request `id` times out (for tests: progress moves it).
    func deadline(ofRequest id: Int) -> ContinuousClock.Instant? { state.withLock { $0.pending[id]?.deadline } }

    private static func earlier(_ a: ContinuousClock.Instant?, _ b: ContinuousClock.Instant?) -> ContinuousClock.Instant? {
        guard let a else { return b }
        guard let b else { return a }
        return min(a, b)
    }

    /// Fails one pending request (its transport could not deliver it or got no reply).
    func failRequest(id: Int, _ error: MCPSessionError) {
        let pending = state.withLock { $0.removePending(id) }
        pending?.continuation.resume(throwing: error)
        runIdleActions()
    }

    // MARK: Timeouts

    /// Fails requests whose deadline has passed. Runs for the connection's lifetime, asleep
    /// until the earliest pending deadline (no polling): a request with an earlier one wakes it.
    func runTimeoutSweeper() async {
        while !Task.isCancelled {
            let now = ContinuousClock.now
            guard let next = expireOverdue(now: now) else { return }
            await sweeperWake.wait(timeout: next.map { $0 - now } ?? .seconds(3600))
        }
    }

    /// Fails the requests whose deadline is at or before `now`; returns the earliest deadline
    /// still pending (nil if none), or nil-of-nil once the connection is closed.
    @discardableResult
    func expireOverdue(now: ContinuousClock.Instant) -> ContinuousClock.Instant?? {
        let (expired, next, closed): ([(Int, Pending)], ContinuousClock.Instant?, Bool) = state.withLock { state in
            var expired: [(Int, Pending)] = []
            var next: ContinuousClock.Instant?
            for (id, pending) in state.pending {
                guard let deadline = pending.deadline else { continue }
                if deadline <= now {
                    expired.append((id, pending))
                } else if next.map({ deadline < $0 }) ?? true {
                    next = deadline
                }
            }
            for (id, _) in expired { _ = state.removePending(id) }
            // Calls that time out together are one sign, not several.
            if !expired.isEmpty { state.consecutiveTimeouts += 1 }
            state.plannedSweep = next
            return (expired, next, state.closedReason != nil)
        }
        if closed { return .none }
        guard !expired.isEmpty else { return .some(next) }
        for (id, pending) in expired {
            notify("notifications/cancelled", params: "{\"requestId\":\(id),\"reason\":\"timeout\"}")
            let capped = pending.hardDeadline.map { $0 <= now } ?? false
            var error = MCPSessionError(.timeout, "\(pending.method) timed out")
            error.timeoutLimit = capped ? .maxDuration : .idle
            pending.continuation.resume(throwing: error)
        }
        let timeouts = state.withLock { $0.consecutiveTimeouts }
        if timeouts >= hungAfterTimeouts {
            logger.warning("server stopped answering; replacing its session", metadata: ["server": "\(serverName)", "timeouts_in_a_row": "\(timeouts)"])
            close(MCPSessionError(.disconnected, "server '\(serverName)' stopped answering (its calls timed out \(timeouts) times in a row)"))
            return .none
        }
        runIdleActions()
        return .some(next)
    }

    // MARK: Transport side

    /// The next bytes to write, waiting until there are some; nil once the connection is closed.
    func nextOutbound() async -> [UInt8]? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<[UInt8]?, Never>) in
                var chunk: [UInt8] = []
                let ready: Bool = state.withLock { state in
                    // Once closed, nothing more leaves: requests still buffered were failed as
                    // never sent, and may already run elsewhere.
                    if state.closedReason != nil { return true }
                    if !state.outbound.isEmpty {
                        swap(&chunk, &state.outbound)
                        state.chunksTaken += 1
                        return true
                    }
                    if Task.isCancelled { return true }
                    state.writer = continuation
                    return false
                }
                if ready { continuation.resume(returning: chunk.isEmpty ? nil : chunk) }
            }
        } onCancel: {
            let waiting = self.state.withLock { state in
                defer { state.writer = nil }
                return state.writer
            }
            waiting?.resume(returning: nil)
        }
    }

    /// Ends the connection: every pending request fails with `reason`. Idempotent; the first
    /// reason wins.
    ///
    /// A request whose bytes the transport never took (or gave back, see
    /// ``returnLastChunk()``) fails with ``MCPSessionError/requestNeverSent`` set.
    public func close(_ reason: MCPSessionError) {
        let (pending, writer, firstUnsentChunk) = state.withLock { state in
            if state.closedReason == nil { state.closedReason = reason }
            let pending = state.pending
            state.pending = [:]
            state.progressTokens = [:]
            state.outbound = []
            defer { state.writer = nil }
            return (pending, state.writer, state.chunksTaken)
        }
        for (_, request) in pending {
            var error = reason
            if request.chunk >= firstUnsentChunk { error.requestNeverSent = true }
            request.continuation.resume(throwing: error)
        }
        writer?.resume(returning: nil)
        sweeperWake.signal()
        closed.signal()
        runIdleActions()
    }

    /// The transport knows the chunk it took last never reached the server (a pipe write of at
    /// most `PIPE_BUF` bytes that failed: all or nothing), and takes no other: its requests count
    /// as never sent when the connection closes.
    func returnLastChunk() {
        state.withLock { state in state.chunksTaken = max(state.chunksTaken - 1, 0) }
    }

    /// The reason the connection closed, if it has.
    public var closedReason: MCPSessionError? { state.withLock { $0.closedReason } }

    /// Handles a received message that was over ``maxMessageBytes``, of which only the first
    /// bytes were kept. A reply that names its request fails that request alone, and the
    /// session goes on; a server request gets an error answer, a notification is dropped.
    /// Only when the first bytes say neither does the session close: it cannot tell whose reply
    /// it lost.
    func receiveOversized(prefix: UnsafeRawBufferPointer, size: Int) {
        let limit = "\(size) bytes, over the limit of \(maxMessageBytes) (max_message_bytes)"
        switch Self.classifyOversized(prefix) {
        case .response(let id):
            state.withLock { $0.consecutiveTimeouts = 0 }
            failRequest(id: id, MCPSessionError(.messageTooLarge, "server '\(serverName)' sent a reply of \(limit)"))
        case .serverMessage(let id):
            logger.warning("dropped a server message too large to read", metadata: ["server": "\(serverName)", "size": "\(size)"])
            if let id {
                enqueue("{\"jsonrpc\":\"2.0\",\"id\":\(id),\"error\":{\"code\":-32600,\"message\":\"request too large for astra-mcpd\"}}\n")
            }
        case .unknown:
            close(MCPSessionError(.messageTooLarge, "server '\(serverName)' sent a message of \(limit)"))
        }
    }

    /// What an oversized message's first bytes say it is.
    enum OversizedMessage: Equatable {
        /// A reply (`result` or `error`) to our request `id`.
        case response(Int)
        /// A request (with its integer id) or notification from the server.
        case serverMessage(id: Int?)
        case unknown
    }

    /// Reads the members of the outermost JSON object in `bytes` (a message's first bytes):
    /// `method` makes it a server message, `result` or `error` a reply; an integer `id` counts
    /// only when its digits end inside `bytes`. Members of nested values and text inside
    /// strings are skipped.
    static func classifyOversized(_ bytes: UnsafeRawBufferPointer) -> OversizedMessage {
        var depth = 0
        var index = 0
        var keyStart: Int?
        var lastKey: ArraySlice<UInt8>?
        var inString = false
        var escaped = false
        var id: Int?
        var isReply = false
        var isServerMessage = false
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }
        while index < bytes.count {
            let byte = bytes[index]
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                    if let start = keyStart, depth == 1 { lastKey = ArraySlice(bytes[start..<index]) }
                    keyStart = nil
                }
                index += 1
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
                keyStart = index + 1
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                lastKey = nil
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
            case UInt8(ascii: ","):
                lastKey = nil
            case UInt8(ascii: ":") where depth == 1:
                guard let key = lastKey else { break }
                if key.elementsEqual("method".utf8) { isServerMessage = true }
                if key.elementsEqual("result".utf8) || key.elementsEqual("error".utf8) { isReply = true }
                if key.elementsEqual("id".utf8) {
                    var digits = index + 1
                    while digits < bytes.count, isSpace(bytes[digits]) { digits += 1 }
                    var value = 0
                    var count = 0
                    while digits < bytes.count, (0x30...0x39).contains(bytes[digits]), count < 18 {
                        value = value * 10 + Int(bytes[digits] - 0x30)
                        digits += 1
                        count += 1
                    }
                    let terminated = digits < bytes.count && (isSpace(bytes[digits]) || bytes[digits] == UInt8(ascii: ",") || bytes[digits] == UInt8(ascii: "}"))
                    if count > 0, terminated { id = value }
                }
                lastKey = nil
            default:
                break
            }
            index += 1
        }
        if isServerMessage { return .serverMessage(id: id) }
        if isReply, let id { return .response(id) }
        return .unknown
    }

    /// Handles one received JSON-RPC message (one line, without its newline).
    func receive(line: UnsafeRawBufferPointer) {
        let scanner = JSONScanner(bytes: line)
        let members: [JSONScanner.Member]
        do {
            members = try scanner.members()
        } catch {
            if scanner.skipWhitespace(0, end: line.count) == line.count { return }  // blank line
            logger.warning("ignoring a message that is not a JSON object", metadata: ["server": "\(serverName)", "error": "\(error)"])
            return
        }
        var id: Range<Int>?
        var method: String?
        var result: Range<Int>?
        var error: Range<Int>?
        var params: Range<Int>?
        for member in members {
            switch member.key {
            case "id": id = member.value
            case "method": method = scanner.string(member.value)
            case "result": result = member.value
            case "error": error = member.value
            case "params": params = member.value
            default: break
            }
        }
        if let method {
            if let id {
                answerServerRequest(id: scanner.text(id), method: method)
            } else {
                handleNotification(method: method, params: params, scanner: scanner)
            }
            return
        }
        guard let id, let requestID = scanner.integer(id) else {
            logger.warning("ignoring a response without a known id", metadata: ["server": "\(serverName)"])
            return
        }
        let (pending, idleActions) = state.withLock { state in
            let removed = state.removePending(requestID)
            // A server that answers pings but no calls is still hung.
            if removed?.method != "ping" { state.consecutiveTimeouts = 0 }
            guard state.pending.isEmpty, !state.idleActions.isEmpty else { return (removed, [@Sendable () -> Void]()) }
            defer { state.idleActions = [] }
            return (removed, state.idleActions)
        }
        defer { for action in idleActions { action() } }
        guard let pending else { return }  // late reply to a request that timed out or was cancelled
        if let result {
            pending.continuation.resume(returning: MCPResponse(bytes: Array(line), result: result))
        } else if let error {
            var failure = Self.remoteError(error, scanner: scanner, method: pending.method)
            let secrets = self.secrets.withLock { $0 } + (changingSecrets.withLock { $0 }?() ?? [])
            if !secrets.isEmpty { failure.message = redacting(secrets, in: failure.message) }
            pending.continuation.resume(throwing: failure)
        } else {
            pending.continuation.resume(throwing: MCPSessionError(.protocolError, "\(pending.method): response has neither result nor error"))
        }
    }

    private static func remoteError(_ range: Range<Int>, scanner: JSONScanner, method: String) -> MCPSessionError {
        var code: Int?
        var message = ""
        if let members = try? scanner.members(of: range) {
            for member in members {
                if member.key == "code" { code = scanner.integer(member.value) }
                if member.key == "message" { message = scanner.string(member.value) ?? "" }
            }
        }
        var error = MCPSessionError(.remoteError, "\(method) failed: \(message) (JSON-RPC error \(code.map(String.init) ?? "?"))")
        error.rpcCode = code
        return error
    }

    /// We offer no client features (sampling, elicitation, roots): such requests get an answer
    /// at once so the server never waits on us. `ping` is answered; an elicitation is declined
    /// (there is no user at hand to ask, e.g. for a task that needs input); anything else is an
    /// error.
    private func answerServerRequest(id: String, method: String) {
        if method == "ping" {
            enqueue("{\"jsonrpc\":\"2.0\",\"id\":\(id),\"result\":{}}\n")
        } else if method == "elicitation/create" {
            logger.info("declined a server's request for user input: astra-mcpd has no user at hand", metadata: ["server": "\(serverName)"])
            enqueue("{\"jsonrpc\":\"2.0\",\"id\":\(id),\"result\":{\"action\":\"decline\"}}\n")
        } else {
            let message = JSONScanner.quote("astra-mcpd does not offer \(method)")
            enqueue("{\"jsonrpc\":\"2.0\",\"id\":\(id),\"error\":{\"code\":-32601,\"message\":\(message)}}\n")
        }
    }

    private func handleNotification(method: String, params: Range<Int>?, scanner: JSONScanner) {
        switch method {
        case "notifications/progress":
            guard let params, let members = try? scanner.members(of: params) else { return }
            var token: String?
            var progress: Double?
            var total: Double?
            var message: String?
            for member in members {
                switch member.key {
                case "progressToken": token = scanner.string(member.value) ?? scanner.text(member.value)
                case "progress": progress = Double(scanner.text(member.value))
                case "total": total = Double(scanner.text(member.value))
                case "message": message = scanner.string(member.value)
                default: break
                }
            }
            guard let token else { return }
            // A sign of life: the request it belongs to gets its idle timeout again. Progress
            // for a token no pending request carries is dropped (it may be a late one, or made up).
            let known: Bool = state.withLock { state in
                state.consecutiveTimeouts = 0
                guard let id = state.progressTokens[token], var pending = state.pending[id] else { return state.heldTokens.contains(token) }
                if let idle = pending.idleTimeout {
                    pending.deadline = Self.earlier(ContinuousClock.now.advanced(by: idle), pending.hardDeadline)
                    state.pending[id] = pending
                }
                return true
            }
            if known, let progress { handlers.progress(token, progress, total, message) }
        case "notifications/tools/list_changed":
            handlers.toolsListChanged()
        case "notifications/message":
            logger.debug("server log message", metadata: ["server": "\(serverName)"])
        default:
            logger.trace("ignoring notification", metadata: ["server": "\(serverName)", "method": "\(method)"])
        }
    }
}
