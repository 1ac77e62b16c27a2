import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// Keeps a small pool of live MCP sessions per server and hands one to whoever needs to call
/// a tool.
///
/// Sessions start lazily, on the first call for their server, and are reused for every call
/// after: one session multiplexes concurrent requests by JSON-RPC id, so the default pool size
/// is 1. A server that handles requests one at a time gets more (`sessions_per_server`, or
/// `"sessions": N` in its config): a further session starts, in the background, only when every
/// open one has a call in flight, and each call goes to the least busy session. A session whose
/// child exits is replaced on the next call. A server that failed to start is not retried for
/// a while (growing exponentially with every failure in a row, with jitter), so a broken server
/// fails its executions fast instead of being re-spawned once per execution.
///
/// The pool is a ``Service``: each session's child process lives in a task of its `run()`, and
/// graceful shutdown stops every child (stdin EOF, then SIGTERM, then SIGKILL to its group).
public final class SessionPool: Service, Sendable {
    /// What the pool needs to know about its sessions.
    public struct Configuration: Sendable {
        public var initializeTimeout: Duration = .seconds(30)
        public var childExitGrace: Duration = .seconds(2)
        public var maxMessageBytes: Int = 16 << 20
        /// The longest wait before a server that keeps failing is started again; the waits grow
        /// exponentially from 0.5 s with jitter.
        public var restartBackoffMax: Duration = .seconds(60)
        /// How long an unused session stays open; zero keeps it.
        public var idleTimeout: Duration = .zero
        /// The most sessions per server, unless its config says `"sessions": N`.
        public var sessionsPerServer: Int = 1
        /// How long a remote server may stay silent (response head, or between reads).
        public var httpReadTimeout: Duration = .seconds(300)
        /// The most HTTP/1.1 connections kept to one host: each call in flight holds one while
        /// its reply streams, and each session's own GET stream holds one.
        public var httpConnectionsPerHost: Int = 34
        /// How long an unused HTTP connection is kept for reuse: less than the keep-alive
        /// timeout of common servers (5 s for uvicorn, Node.js, Apache), so the daemon closes an
        /// idle connection before its server does, never while reusing it.
        public var httpIdleTimeout: Duration = .seconds(4)
        public var daemonEnvironment: [String: String] = ProcessInfo.processInfo.environment
        public init() {}

        /// The pool settings of a daemon configuration.
        public init(_ daemon: DaemonConfiguration) {
            initializeTimeout = daemon.initializeTimeout
            childExitGrace = daemon.childExitGrace
            maxMessageBytes = daemon.maxMessageBytes
            restartBackoffMax = daemon.restartBackoffMax
            idleTimeout = daemon.sessionIdleTimeout
            sessionsPerServer = daemon.sessionsPerServer
            httpReadTimeout = daemon.httpReadTimeout
            // Each call in flight may hold a connection while its reply streams, and each
            // session's own GET stream holds one.
            httpConnectionsPerHost = daemon.maxInFlightPerServer + daemon.sessionsPerServer + 1
        }
    }

    /// A ready session.
    public struct Session: Sendable {
        public var connection: MCPConnection
        public var info: MCPServerInfo
    }

    fileprivate enum EntryState {
        case starting([CheckedContinuation<Session, any Error>])
        case ready(Session)
        case failed(MCPSessionError, until: ContinuousClock.Instant)
    }

    fileprivate struct Entry {
        var generation: Int
        var configJSON: String
        /// The parsed config: the same config may come as differently spelled JSON.
        var config: TransportConfig?

        /// Whether `server` asks for the config this entry runs.
        func runs(_ server: ServerDescriptor) -> Bool {
            configJSON == server.configJSON || (config != nil && (try? TransportConfig.parse(server)) == config)
        }
        var state: EntryState
        var stop: AsyncEvent
        var lastUsed: ContinuousClock.Instant = .now
        let createdAt: ContinuousClock.Instant = .now
    }

    /// One session of a server's pool: slot 0 is its first session.
    fileprivate struct SessionKey: Hashable {
        var serverID: UUID
        var slot: Int
    }

    fileprivate struct State {
        var entries: [SessionKey: Entry] = [:]
        /// Each server's pool size, from its config when it differs from the default.
        var poolSizes: [UUID: Int] = [:]
        /// Start failures and unexpected exits in a row, per server, for the restart backoff.
        var failuresInARow: [UUID: Int] = [:]
        /// Servers deactivated or deleted: no session starts for them, whatever row a caller
        /// still holds from before, until a change notification says they are active again.
        var inactive: [UUID: ContinuousClock.Instant] = [:]
        var nextGeneration = 0
        var shuttingDown = false
    }

    fileprivate struct StartRequest: Sendable {
        var server: ServerDescriptor
        var key: SessionKey
        var config: TransportConfig
        var generation: Int
        var stop: AsyncEvent
    }

    let configuration: Configuration
    let logger: Logger
    let handlersForServer: @Sendable (ServerDescriptor) -> MCPConnection.Handlers
    let onSessionReady: @Sendable (ServerDescriptor, Session) -> Void
    /// Looks up the secret a remote server's `auth` asks for.
    let credentials: @Sendable (ServerDescriptor, ServerAuth) async throws -> StoredSecret
    /// One HTTP client for every remote server: connections are kept alive and reused.
    /// Redirects are not followed (one to another origin would carry the session elsewhere).
    let httpClient: HTTPClient
    /// For requests the server must not get twice (see ``HTTPTransport/send(_:body:repeatable:)``).
    let singleUseHTTPClient: HTTPClient
    private let state = Mutex(State())
    private let startRequests: AsyncStream<StartRequest>
    private let startRequestsContinuation: AsyncStream<StartRequest>.Continuation

    /// - Parameters:
    ///   - handlersForServer: Notification callbacks for a server's sessions.
    ///   - onSessionReady: Called each time a server's first live session has completed
    ///     initialize (a first start or a restart), e.g. to sync the server's tools.
    public init(
        configuration: Configuration,
        logger: Logger,
        handlersForServer: @escaping @Sendable (ServerDescriptor) -> MCPConnection.Handlers = { _ in .init() },
        onSessionReady: @escaping @Sendable (ServerDescriptor, Session) -> Void = { _, _ in },
        credentials: @escaping @Sendable (ServerDescriptor, ServerAuth) async throws -> StoredSecret = { _, _ in
            throw CredentialError("credentials are not available here")
        }
    ) {
        self.configuration = configuration
        self.logger = logger
        self.handlersForServer = handlersForServer
        self.onSessionReady = onSessionReady
        self.credentials = credentials
        var httpConfiguration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        httpConfiguration.timeout = .init(connect: .seconds(10), read: TimeAmount(configuration.httpReadTimeout))
        httpConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = configuration.httpConnectionsPerHost
        httpConfiguration.connectionPool.idleTimeout = TimeAmount(configuration.httpIdleTimeout)
        // A refused connection fails at once; retries are the retry policy's to decide.
        httpConfiguration.connectionPool.retryConnectionEstablishment = false
        self.httpClient = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: httpConfiguration, backgroundActivityLogger: logger)
        httpConfiguration.maximumUsesPerConnection = 1
        self.singleUseHTTPClient = HTTPClient(
            eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: httpConfiguration, backgroundActivityLogger: logger)
        (startRequests, startRequestsContinuation) = AsyncStream.makeStream()
    }

    /// Runs every session's child process until graceful shutdown, then stops them all.
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            if configuration.idleTimeout > .zero {
                group.addTask { await self.closeIdleSessions() }
            }
            await withGracefulShutdownHandler {
                for await request in startRequests {
                    group.addTask { await self.runSession(request) }
                }
                // Stopped early by `shutdown()` (the worker's drain ran out of time): services
                // that return before their turn make the group cancel everything, so wait.
                try? await gracefulShutdown()
            } onGracefulShutdown: {
                self.shutdown()
            }
            group.cancelAll()
        }
        try? await httpClient.shutdown()
        try? await singleUseHTTPClient.shutdown()
    }

    /// Stops every session of one server (its row changed, it was deactivated or deleted); the
    /// next call for it starts a new one — unless `deactivated`, which refuses new sessions until
    /// ``reconcile(only:)`` sees the server active again.
    ///
    /// - Parameter draining: Let each session finish the calls it has before it stops (no new
    ///   call reaches it): for a change that does not make those calls wrong, such as a new
    ///   credential.
    public func retire(serverID: UUID, reason: String, deactivated: Bool = false, draining: Bool = false) {
        let retired = state.withLock { state in
            if deactivated {
                state.inactive[serverID] = .now
                state.poolSizes[serverID] = nil
            }
            return state.removeEntries { key, _ in key.serverID == serverID }
        }
        guard draining else { return stop(retired, reason: reason) }
        for (key, entry) in retired {
            guard case .ready(let session) = entry.state else {
                stop([(key, entry)], reason: reason)
                continue
            }
            logger.info("retiring server session after its calls", metadata: ["server_id": "\(key.serverID)", "session": "\(key.slot)", "reason": "\(reason)"])
            session.connection.whenIdle { entry.stop.signal() }
        }
    }

    private func stop(_ retired: [(SessionKey, Entry)], reason: String) {
        for (key, entry) in retired {
            logger.info("stopping server session", metadata: ["server_id": "\(key.serverID)", "session": "\(key.slot)", "reason": "\(reason)"])
            entry.stop.signal()
            if case .starting(let waiters) = entry.state {
                let error = MCPSessionError(.disconnected, "the server's session was stopped while starting: \(reason)")
                for waiter in waiters { waiter.resume(throwing: error) }
            }
        }
    }

    /// Stops every session whose server is not in `active` or whose config changed.
    /// - Returns: The servers whose sessions were stopped.
    /// - Parameter readAt: When `active` was read: sessions started since are left alone, as the
    ///   list may predate their server.
    @discardableResult
    public func reconcile(active: [ServerDescriptor], readAt: ContinuousClock.Instant) -> [UUID] {
        let wanted = Dictionary(active.map { ($0.id, $0) }, uniquingKeysWith: { $1 })
        let stale = state.withLock { state in
            // Active in a list read after it was deactivated: it was reactivated.
            state.inactive = state.inactive.filter { id, since in wanted[id] == nil || since >= readAt }
            return Set(state.entries.compactMap { key, entry in
                entry.createdAt >= readAt || wanted[key.serverID].map(entry.runs) == true ? nil : key.serverID
            })
        }
        for id in stale { retire(serverID: id, reason: wanted[id] == nil ? "server is no longer active" : "server config changed") }
        for server in active where !stale.contains(server.id) { resize(server) }
        return Array(stale)
    }

    /// Stops `server`'s sessions if they run with another config, and the ones beyond a smaller
    /// pool size.
    public func reconcile(only server: ServerDescriptor) {
        let changed = state.withLock { state in
            if server.isActive { state.inactive[server.id] = nil }
            return state.entries.contains { $0.key.serverID == server.id && !$0.value.runs(server) }
        }
        if changed {
            retire(serverID: server.id, reason: "server config changed")
        } else {
            resize(server)
        }
    }

    /// Takes a new `"sessions"` of a server's config into account.
    private func resize(_ server: ServerDescriptor) {
        guard let size = try? poolSize(server) else { return }
        let surplus = state.withLock { state in
            guard (state.poolSizes[server.id] ?? configuration.sessionsPerServer) != size else { return [(SessionKey, Entry)]() }
            state.poolSizes[server.id] = size == configuration.sessionsPerServer ? nil : size
            return state.removeEntries { key, _ in key.serverID == server.id && key.slot >= size }
        }
        stop(surplus, reason: "the server's pool is smaller now")
    }

    /// The servers with a live or starting session.
    public var serverIDs: [UUID] { state.withLock { Array(Set($0.entries.keys.map(\.serverID))) } }

    /// How many sessions (live or starting) `serverID` has.
    public func sessionCount(serverID: UUID) -> Int {
        state.withLock { state in
            state.entries.filter { key, entry in
                guard key.serverID == serverID else { return false }
                if case .failed = entry.state { return false }
                return true
            }.count
        }
    }

    /// Closes sessions nobody used for `idleTimeout` (and with nothing in flight).
    private func closeIdleSessions() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: min(configuration.idleTimeout / 2, .seconds(30)))
            let now = ContinuousClock.now
            // Found and removed under one lock, so a session handed out meanwhile is not stopped.
            let idle = state.withLock { state in
                state.removeEntries { _, entry in
                    guard case .ready(let session) = entry.state, session.connection.pendingCount == 0 else { return false }
                    return now - entry.lastUsed >= configuration.idleTimeout
                }
            }
            stop(idle, reason: "idle")
        }
    }

    /// Stops every session and refuses new ones.
    public func shutdown() {
        let stops = state.withLock { state in
            state.shuttingDown = true
            return state.entries.values.map(\.stop)
        }
        startRequestsContinuation.finish()
        for stop in stops { stop.signal() }
    }

    /// A live session for `server`, starting one if needed.
    /// - Throws: ``MCPSessionError`` when the server cannot be started or initialized.
    public func session(for server: ServerDescriptor) async throws -> Session {
        try await session(for: server, mayGrow: true)
    }

    private func session(for server: ServerDescriptor, mayGrow: Bool) async throws -> Session {
        // The hot path: a live session with the same config, without suspending.
        switch state.withLock({ $0.pick(server, defaultPoolSize: configuration.sessionsPerServer) }) {
        case .idle(let session):
            return session
        case .busy(let session, let pending, let canGrow):
            guard mayGrow, canGrow else { return session }
            do {
                return try await anotherSession(for: server, busiest: pending)
            } catch {
                // The further session failed to start: share the busy ones after all.
                return try await self.session(for: server, mayGrow: false)
            }
        case .none:
            return try await startOrWait(server)
        }
    }

    /// Every live session of a server with more than one is busy: waits for a session that is
    /// starting, or starts another, rather than queue behind calls in flight (such servers
    /// answer one request at a time).
    private func anotherSession(for server: ServerDescriptor, busiest pending: Int) async throws -> Session {
        try await withCheckedThrowingContinuation { continuation in
            enum Decision {
                case wait
                case use(Session)
                case fail
            }
            var start: StartRequest?
            let decision: Decision = state.withLock { state in
                guard !state.shuttingDown, state.inactive[server.id] == nil else { return .fail }
                let size = state.poolSizes[server.id] ?? configuration.sessionsPerServer
                var freeSlot: Int?
                var joinable: (key: SessionKey, waiters: [CheckedContinuation<Session, any Error>])?
                for slot in 0..<size {
                    let key = SessionKey(serverID: server.id, slot: slot)
                    guard let entry = state.entries[key] else {
                        freeSlot = freeSlot ?? slot
                        continue
                    }
                    switch entry.state {
                    case .starting(let waiters) where entry.runs(server) && waiters.count < pending:
                        if joinable == nil || waiters.count < joinable!.waiters.count { joinable = (key, waiters) }
                    case .failed(_, let until) where ContinuousClock.now >= until:
                        freeSlot = freeSlot ?? slot
                    default:
                        break
                    }
                }
                if let joinable {
                    state.entries[joinable.key]?.state = .starting(joinable.waiters + [continuation])
                    return .wait
                }
                if let freeSlot, let config = try? TransportConfig.parse(server) {
                    start = state.addEntry(
                        server: server, config: config, key: SessionKey(serverID: server.id, slot: freeSlot), waiters: [continuation])
                    return .wait
                }
                return state.pick(server, defaultPoolSize: configuration.sessionsPerServer).session.map(Decision.use) ?? .fail
            }
            switch decision {
            case .wait:
                if let start {
                    logger.debug("opening another session", metadata: ["server": "\(server.name)", "session": "\(start.key.slot)"])
                    submit(start)
                }
            case .use(let session):
                continuation.resume(returning: session)
            case .fail:
                continuation.resume(throwing: MCPSessionError(.disconnected, "server '\(server.name)' has no further session"))
            }
        }
    }

    /// The slow path of ``session(for:)``: joins a session that is starting, or starts the
    /// server's first one (replacing sessions of an older config), or fails fast while a failed
    /// server waits out its restart delay.
    private func startOrWait(_ server: ServerDescriptor) async throws -> Session {
        enum Decision {
            case use(Session)
            case fail(any Error)
            case wait
        }
        return try await withCheckedThrowingContinuation { continuation in
            var retiring: [AsyncEvent] = []
            var start: StartRequest?
            let decision: Decision = state.withLock { state in
                if state.shuttingDown { return .fail(MCPSessionError(.disconnected, "astra-mcpd is shutting down")) }
                if state.inactive[server.id] != nil {
                    return .fail(MCPSessionError(.misconfigured, "server '\(server.name)' is inactive"))
                }
                let first = SessionKey(serverID: server.id, slot: 0)
                let current = state.entries.filter { $0.key.serverID == server.id && $0.value.runs(server) }
                if let (key, entry) = current.first(where: { if case .starting = $0.value.state { true } else { false } }),
                    case .starting(let waiters) = entry.state
                {
                    state.entries[key]?.state = .starting(waiters + [continuation])
                    return .wait
                }
                if let entry = current[first] {
                    switch entry.state {
                    case .ready(let session) where !session.connection.isClosed:
                        return .use(session)
                    case .ready(let session):
                        // It died and its teardown is still running: count the death here (the
                        // teardown will find the entry replaced), so a server that keeps dying
                        // under steady traffic backs off too; the first death restarts at once.
                        let restart = state.countRestart(of: server.id, upSince: entry.createdAt, cap: configuration.restartBackoffMax)
                        guard restart.inARow == 1 else {
                            var error = Self.restarting(server, reason: session.connection.closedReason?.message ?? "closed")
                            let delay = restart.delay
                            state.entries[first]?.state = .failed(error, until: .now.advanced(by: delay))
                            error.retryAfter = delay
                            return .fail(error)
                        }
                    case .failed(var error, let until) where ContinuousClock.now < until:
                        error.retryAfter = until - .now
                        return .fail(error)
                    default:
                        break
                    }
                }
                let config: TransportConfig
                let size: Int
                do {
                    config = try TransportConfig.parse(server)
                    size = try poolSize(server)
                } catch {
                    return .fail(MCPSessionError(.misconfigured, "server '\(server.name)': \(error)"))
                }
                state.poolSizes[server.id] = size == configuration.sessionsPerServer ? nil : size
                // Sessions of an older config are replaced; callers still waiting for one to
                // start wait for the new one instead.
                var waiters = [continuation]
                for (_, old) in state.removeEntries(where: { key, _ in key.serverID == server.id && (key.slot == 0 || current[key] == nil) }) {
                    retiring.append(old.stop)
                    if case .starting(let oldWaiters) = old.state { waiters += oldWaiters }
                }
                start = state.addEntry(server: server, config: config, key: first, waiters: waiters)
                return .wait
            }
            for stop in retiring { stop.signal() }
            if let start { submit(start) }
            switch decision {
            case .use(let session): continuation.resume(returning: session)
            case .fail(let error): continuation.resume(throwing: error)
            case .wait: break
            }
        }
    }

    /// Hands a start to `run()`; after shutdown, fails its waiters instead.
    private func submit(_ start: StartRequest) {
        if case .terminated = startRequestsContinuation.yield(start) {
            publish(start, .failed(MCPSessionError(.disconnected, "astra-mcpd is shutting down"), until: .now))
        }
    }

    /// The pool size `server` asks for: its config's `"sessions"`, else the default.
    private func poolSize(_ server: ServerDescriptor) throws(ConfigurationError) -> Int {
        try ServerPoolOptions.parse(json: server.configJSON).sessions ?? configuration.sessionsPerServer
    }
    /// Runs one session: the child process, the initialize handshake, and the bookkeeping when
    /// it ends.
    private func runSession(_ request: StartRequest) async {
        let server = request.server
        let started = ContinuousClock.now
        let connection = MCPConnection(
            serverName: server.name, logger: logger, handlers: handlersForServer(server),
            maxMessageBytes: configuration.maxMessageBytes)
        let transportDone = AsyncEvent()
        await withTaskGroup(of: Void.self) { group in
            switch request.config {
            case .stdio(let config):
                let transport = StdioTransport(
                    config: config, serverName: server.name, exitGrace: configuration.childExitGrace,
                    daemonEnvironment: configuration.daemonEnvironment, logger: logger)
                group.addTask { await transport.run(connection: connection, stop: request.stop); transportDone.signal() }
            case .streamableHTTP(let config), .legacySSE(let config):
                var headers: [(String, String)] = []
                var secrets: [String] = []
                if let auth = config.auth {
                    do {
                        let stored = try await credentials(server, auth)
                        headers = auth.headers(secret: stored.secret)
                        secrets = [stored.secret] + headers.map(\.1)
                        if let validFor = stored.validFor {
                            // At expires_at the session stops taking calls; the next start says
                            // the credential has expired.
                            group.addTask {
                                guard !(await transportDone.wait(timeout: validFor)) else { return }
                                self.logger.notice("server credential expired; retiring its sessions", metadata: ["server": "\(server.name)"])
                                self.retire(serverID: server.id, reason: "its credential expired", draining: true)
                            }
                        }
                    } catch {
                        connection.close(MCPSessionError(.misconfigured, "\(error)"))
                        break
                    }
                }
                let endpoint = HTTPEndpoint(
                    config: config, serverName: server.name, client: httpClient, singleUseClient: singleUseHTTPClient, logger: logger,
                    maxMessageBytes: configuration.maxMessageBytes, credentialHeaders: headers, secrets: secrets,
                    readTimeout: TimeAmount(configuration.httpReadTimeout))
                if case .legacySSE = request.config {
                    group.addTask { await LegacySSETransport(endpoint: endpoint).run(connection: connection, stop: request.stop); transportDone.signal() }
                } else {
                    group.addTask { await StreamableHTTPTransport(endpoint: endpoint).run(connection: connection, stop: request.stop); transportDone.signal() }
                }
            }
            do {
                let info = try await connection.initialize(timeout: configuration.initializeTimeout)
                logger.info(
                    "server connected",
                    metadata: [
                        "server": "\(server.name)", "session": "\(request.key.slot)", "protocol": "\(info.protocolVersion)",
                        "implementation": "\(info.name) \(info.version)",
                    ])
                let session = Session(connection: connection, info: info)
                // A further session of a server already up needs no tool sync.
                if publish(request, .ready(session)) == 0 { onSessionReady(server, session) }
            } catch {
                let failure = Self.startFailure(error, server: server)
                logger.error("server failed to start", metadata: ["server": "\(server.name)", "error": "\(failure.message)"])
                publish(request, .failed(failure, until: .now.advanced(by: restartDelay(after: server.id))))
                request.stop.signal()
            }
            await group.waitForAll()
        }
        let reason = connection.closedReason?.message ?? "closed"
        logger.info("server disconnected", metadata: ["server": "\(server.name)", "session": "\(request.key.slot)", "reason": "\(reason)"])
        let unexpected = !request.stop.isSignalled
        state.withLock { state in
            guard let entry = state.entries[request.key], entry.generation == request.generation, case .ready = entry.state else { return }
            if unexpected {
                // It died on its own: the next start waits (growing with every death in a row).
                let delay = state.countRestart(of: server.id, upSince: started, cap: configuration.restartBackoffMax).delay
                state.entries[request.key]?.state = .failed(Self.restarting(server, reason: reason), until: .now.advanced(by: delay))
            } else {
                state.entries[request.key] = nil
            }
        }
    }

    /// Counts a start failure in a row and returns how long to wait before the next start:
    /// 0.5 s, 1 s, 2 s, … up to `restartBackoffMax`, with jitter.
    private func restartDelay(after serverID: UUID) -> Duration {
        state.withLock { $0.countRestart(of: serverID, upSince: nil, cap: configuration.restartBackoffMax).delay }
    }

    private static func restarting(_ server: ServerDescriptor, reason: String) -> MCPSessionError {
        MCPSessionError(.startFailed, "server '\(server.name)' is restarting after it exited: \(reason)")
    }

    private static func startFailure(_ error: any Error, server: ServerDescriptor) -> MCPSessionError {
        guard let error = error as? MCPSessionError else {
            return MCPSessionError(.startFailed, "server '\(server.name)' failed to start: \(error)")
        }
        switch error.code {
        case .startFailed, .unsupportedProtocolVersion, .misconfigured:
            return error
        case .disconnected:
            return MCPSessionError(.startFailed, error.message.replacingOccurrences(of: "' exited", with: "' exited during initialize"))
        case .timeout:
            return MCPSessionError(.startFailed, "server '\(server.name)' did not answer initialize in time")
        default:
            return MCPSessionError(.startFailed, "server '\(server.name)' failed during initialize: \(error.message)")
        }
    }

    /// Settles a start and wakes its waiters.
    /// - Returns: How many other sessions of the server were ready, or nil if the start was
    ///   retired meanwhile.
    @discardableResult
    private func publish(_ request: StartRequest, _ newState: EntryState) -> Int? {
        let (waiters, othersReady): ([CheckedContinuation<Session, any Error>], Int?) = state.withLock { state in
            guard var entry = state.entries[request.key], entry.generation == request.generation,
                case .starting(let waiters) = entry.state
            else { return ([], nil) }
            entry.state = newState
            state.entries[request.key] = entry
            let othersReady = state.entries.count { key, entry in
                guard key.serverID == request.key.serverID, key != request.key, case .ready = entry.state else { return false }
                return true
            }
            return (waiters, othersReady)
        }
        for waiter in waiters {
            switch newState {
            case .ready(let session): waiter.resume(returning: session)
            case .failed(let error, _): waiter.resume(throwing: error)
            case .starting: break
            }
        }
        return othersReady
    }
}

extension SessionPool.State {
    /// Adds a starting session and returns the request that starts it.
    fileprivate mutating func addEntry(
        server: ServerDescriptor, config: TransportConfig, key: SessionPool.SessionKey,
        waiters: [CheckedContinuation<SessionPool.Session, any Error>]
    ) -> SessionPool.StartRequest {
        nextGeneration += 1
        let stop = AsyncEvent()
        entries[key] = SessionPool.Entry(
            generation: nextGeneration, configJSON: server.configJSON, config: config, state: .starting(waiters), stop: stop)
        return SessionPool.StartRequest(server: server, key: key, config: config, generation: nextGeneration, stop: stop)
    }

    /// What the hot path found among a server's sessions.
    fileprivate enum Pick {
        /// A live session with nothing in flight (or the only session a server may have).
        case idle(SessionPool.Session)
        /// The least busy live session, every one having calls in flight; `canGrow` when a
        /// further session is starting or may be started.
        case busy(SessionPool.Session, pending: Int, canGrow: Bool)
        /// No live session.
        case none

        var session: SessionPool.Session? {
            switch self {
            case .idle(let session), .busy(let session, _, _): session
            case .none: nil
            }
        }
    }

    /// The least busy live session of `server` with its current config.
    fileprivate mutating func pick(_ server: ServerDescriptor, defaultPoolSize: Int) -> Pick {
        let size = poolSizes[server.id] ?? defaultPoolSize
        var best: (key: SessionPool.SessionKey, session: SessionPool.Session, pending: Int)?
        var canGrow = false
        for slot in 0..<size {
            let key = SessionPool.SessionKey(serverID: server.id, slot: slot)
            guard let entry = entries[key] else {
                canGrow = true
                continue
            }
            guard entry.runs(server) else { continue }
            switch entry.state {
            case .ready(let session) where !session.connection.isClosed:
                // With one session per server there is nothing to compare.
                let pending = size == 1 ? 0 : session.connection.pendingCount
                if best == nil || pending < best!.pending { best = (key, session, pending) }
            case .starting:
                canGrow = true
            case .failed(_, let until):
                canGrow = canGrow || ContinuousClock.now >= until
            case .ready:
                break
            }
            if best?.pending == 0 { break }
        }
        guard let best else { return .none }
        entries[best.key]?.lastUsed = .now
        return best.pending == 0 ? .idle(best.session) : .busy(best.session, pending: best.pending, canGrow: canGrow)
    }

    /// Counts a start failure or an unexpected exit of `serverID`; returns how many came in a
    /// row and how long to wait before the next start: 0.5 s, 1 s, 2 s, … up to `cap`, with
    /// jitter. A session that ran for a minute before it died starts the count again.
    fileprivate mutating func countRestart(
        of serverID: UUID, upSince: ContinuousClock.Instant?, cap: Duration
    ) -> (inARow: Int, delay: Duration) {
        if let upSince, ContinuousClock.now - upSince > .seconds(60) { failuresInARow[serverID] = 0 }
        failuresInARow[serverID, default: 0] += 1
        let inARow = failuresInARow[serverID]!
        return (inARow, Backoff.delay(failedAttempt: inARow, base: .milliseconds(500), cap: cap))
    }

    /// Removes and returns the sessions whose key matches.
    fileprivate mutating func removeEntries(
        where matches: (SessionPool.SessionKey, SessionPool.Entry) -> Bool
    ) -> [(SessionPool.SessionKey, SessionPool.Entry)] {
        let removed = entries.filter { matches($0.key, $0.value) }
        for key in removed.keys { entries[key] = nil }
        return removed.map { ($0.key, $0.value) }
    }
}
