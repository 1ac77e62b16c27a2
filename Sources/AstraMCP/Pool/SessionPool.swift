import AsyncHTTPClient
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Keeps one live MCP session per server and hands it to whoever needs to call a tool.
///
/// Sessions start lazily, on the first call for their server, and are reused for every call
/// after (one session multiplexes concurrent requests by JSON-RPC id). A session whose child
/// exits is replaced on the next call. A server that failed to start is not retried for
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
        public var daemonEnvironment: [String: String] = ProcessInfo.processInfo.environment
        public init() {}
    }

    /// A ready session.
    public struct Session: Sendable {
        public var connection: MCPConnection
        public var info: MCPServerInfo
    }

    private enum EntryState {
        case starting([CheckedContinuation<Session, any Error>])
        case ready(Session)
        case failed(MCPSessionError, until: ContinuousClock.Instant)
    }

    private struct Entry {
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

    private struct State {
        var entries: [UUID: Entry] = [:]
        /// Start failures and unexpected exits in a row, per server, for the restart backoff.
        var failuresInARow: [UUID: Int] = [:]
        /// Servers deactivated or deleted: no session starts for them, whatever row a caller
        /// still holds from before, until a change notification says they are active again.
        var inactive: [UUID: ContinuousClock.Instant] = [:]
        var nextGeneration = 0
        var shuttingDown = false
    }

    private struct StartRequest: Sendable {
        var server: ServerDescriptor
        var config: TransportConfig
        var generation: Int
        var stop: AsyncEvent
    }

    let configuration: Configuration
    let logger: Logger
    let handlersForServer: @Sendable (ServerDescriptor) -> MCPConnection.Handlers
    let onSessionReady: @Sendable (ServerDescriptor, Session) -> Void
    /// Looks up the secret a remote server's `auth` asks for.
    let credentials: @Sendable (ServerDescriptor, ServerAuth) async throws -> String
    /// One HTTP client for every remote server: connections are kept alive and reused.
    /// Redirects are not followed (one to another origin would carry the session elsewhere).
    let httpClient: HTTPClient
    private let state = Mutex(State())
    private let startRequests: AsyncStream<StartRequest>
    private let startRequestsContinuation: AsyncStream<StartRequest>.Continuation

    /// - Parameters:
    ///   - handlersForServer: Notification callbacks for a server's sessions.
    ///   - onSessionReady: Called each time a session has completed initialize (a first start
    ///     or a restart), e.g. to sync the server's tools.
    public init(
        configuration: Configuration,
        logger: Logger,
        handlersForServer: @escaping @Sendable (ServerDescriptor) -> MCPConnection.Handlers = { _ in .init() },
        onSessionReady: @escaping @Sendable (ServerDescriptor, Session) -> Void = { _, _ in },
        credentials: @escaping @Sendable (ServerDescriptor, ServerAuth) async throws -> String = { _, _ in
            throw CredentialError("credentials are not available here")
        }
    ) {
        self.configuration = configuration
        self.logger = logger
        self.handlersForServer = handlersForServer
        self.onSessionReady = onSessionReady
        self.credentials = credentials
        var httpConfiguration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        httpConfiguration.timeout = .init(connect: .seconds(10), read: nil)
        // A refused connection fails at once; retries are the retry policy's to decide.
        httpConfiguration.connectionPool.retryConnectionEstablishment = false
        self.httpClient = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: httpConfiguration, backgroundActivityLogger: logger)
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
    }

    /// Stops the session of one server (its row changed, it was deactivated or deleted); the
    /// next call for it starts a new one — unless `deactivated`, which refuses new sessions until
    /// ``reconcile(only:)`` sees the server active again.
    public func retire(serverID: UUID, reason: String, deactivated: Bool = false) {
        guard let entry = state.withLock({ state in
            if deactivated { state.inactive[serverID] = .now }
            return state.entries.removeValue(forKey: serverID)
        }) else { return }
        logger.info("stopping server session", metadata: ["server_id": "\(serverID)", "reason": "\(reason)"])
        entry.stop.signal()
        if case .starting(let waiters) = entry.state {
            let error = MCPSessionError(.disconnected, "the server's session was stopped while starting: \(reason)")
            for waiter in waiters { waiter.resume(throwing: error) }
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
            return state.entries.compactMap { id, entry in
                entry.createdAt >= readAt || wanted[id].map(entry.runs) == true ? nil : id
            }
        }
        for id in stale { retire(serverID: id, reason: wanted[id] == nil ? "server is no longer active" : "server config changed") }
        return stale
    }

    /// Stops `server`'s session if it runs with another config.
    public func reconcile(only server: ServerDescriptor) {
        let changed = state.withLock { state in
            if server.isActive { state.inactive[server.id] = nil }
            return state.entries[server.id].map { !$0.runs(server) } ?? false
        }
        if changed { retire(serverID: server.id, reason: "server config changed") }
    }

    /// The servers with a live or starting session.
    public var serverIDs: [UUID] { state.withLock { Array($0.entries.keys) } }

    /// Closes sessions nobody used for `idleTimeout` (and with nothing in flight).
    private func closeIdleSessions() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: min(configuration.idleTimeout / 2, .seconds(30)))
            let now = ContinuousClock.now
            let idle = state.withLock { state in
                state.entries.compactMap { id, entry -> UUID? in
                    guard case .ready(let session) = entry.state, session.connection.pendingCount == 0,
                        now - entry.lastUsed >= configuration.idleTimeout
                    else { return nil }
                    return id
                }
            }
            for id in idle { retire(serverID: id, reason: "idle") }
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

    /// The live session for `server`, starting one if needed.
    /// - Throws: ``MCPSessionError`` when the server cannot be started or initialized.
    public func session(for server: ServerDescriptor) async throws -> Session {
        // The hot path: a live session with the same config, without suspending.
        let live: Session? = state.withLock { state in
            guard var entry = state.entries[server.id], entry.runs(server),
                case .ready(let session) = entry.state, !session.connection.isClosed
            else { return nil }
            entry.lastUsed = .now
            state.entries[server.id] = entry
            return session
        }
        if let live { return live }
        enum Decision {
            case use(Session)
            case fail(any Error)
            case wait
        }
        return try await withCheckedThrowingContinuation { continuation in
            var retiring: AsyncEvent?
            var start: StartRequest?
            let decision: Decision = state.withLock { state in
                if state.shuttingDown { return .fail(MCPSessionError(.disconnected, "astra-mcpd is shutting down")) }
                if state.inactive[server.id] != nil {
                    return .fail(MCPSessionError(.misconfigured, "server '\(server.name)' is inactive"))
                }
                if var entry = state.entries[server.id], entry.runs(server) {
                    switch entry.state {
                    case .ready(let session) where !session.connection.isClosed:
                        return .use(session)
                    case .starting(var waiters):
                        waiters.append(continuation)
                        entry.state = .starting(waiters)
                        state.entries[server.id] = entry
                        return .wait
                    case .failed(var error, let until) where ContinuousClock.now < until:
                        error.retryAfter = until - .now
                        return .fail(error)
                    default:
                        break
                    }
                }
                let config: TransportConfig
                do {
                    config = try TransportConfig.parse(server)
                } catch {
                    return .fail(MCPSessionError(.misconfigured, "server '\(server.name)': \(error)"))
                }
                // A session of an older config is replaced; callers still waiting for it to start
                // wait for the new one instead.
                var waiters = [continuation]
                if let old = state.entries[server.id] {
                    retiring = old.stop
                    if case .starting(let oldWaiters) = old.state { waiters += oldWaiters }
                }
                state.nextGeneration += 1
                let stop = AsyncEvent()
                state.entries[server.id] = Entry(
                    generation: state.nextGeneration, configJSON: server.configJSON, config: config, state: .starting(waiters), stop: stop)
                start = StartRequest(server: server, config: config, generation: state.nextGeneration, stop: stop)
                return .wait
            }
            retiring?.signal()
            if let start { startRequestsContinuation.yield(start) }
            switch decision {
            case .use(let session): continuation.resume(returning: session)
            case .fail(let error): continuation.resume(throwing: error)
            case .wait: break
            }
        }
    }

    /// Runs one session: the child process, the initialize handshake, and the bookkeeping when
    /// it ends.
    private func runSession(_ request: StartRequest) async {
        let server = request.server
        let started = ContinuousClock.now
        let connection = MCPConnection(
            serverName: server.name, logger: logger, handlers: handlersForServer(server),
            maxMessageBytes: configuration.maxMessageBytes)
        await withTaskGroup(of: Void.self) { group in
            switch request.config {
            case .stdio(let config):
                let transport = StdioTransport(
                    config: config, serverName: server.name, exitGrace: configuration.childExitGrace,
                    daemonEnvironment: configuration.daemonEnvironment, logger: logger)
                group.addTask { await transport.run(connection: connection, stop: request.stop) }
            case .streamableHTTP(let config), .legacySSE(let config):
                var headers: [(String, String)] = []
                var secrets: [String] = []
                if let auth = config.auth {
                    do {
                        let secret = try await credentials(server, auth)
                        headers = auth.headers(secret: secret)
                        secrets = [secret] + headers.map(\.1)
                    } catch {
                        connection.close(MCPSessionError(.misconfigured, "\(error)"))
                        break
                    }
                }
                if case .legacySSE = request.config {
                    let transport = LegacySSETransport(
                        config: config, serverName: server.name, client: httpClient, logger: logger,
                        maxMessageBytes: configuration.maxMessageBytes, credentialHeaders: headers, secrets: secrets)
                    group.addTask { await transport.run(connection: connection, stop: request.stop) }
                } else {
                    let transport = StreamableHTTPTransport(
                        config: config, serverName: server.name, client: httpClient, logger: logger,
                        maxMessageBytes: configuration.maxMessageBytes, credentialHeaders: headers, secrets: secrets)
                    group.addTask { await transport.run(connection: connection, stop: request.stop) }
                }
            }
            do {
                let info = try await connection.initialize(timeout: configuration.initializeTimeout)
                logger.info(
                    "server connected",
                    metadata: ["server": "\(server.name)", "protocol": "\(info.protocolVersion)", "implementation": "\(info.name) \(info.version)"])
                let session = Session(connection: connection, info: info)
                publish(request, .ready(session))
                onSessionReady(server, session)
            } catch {
                let failure = Self.startFailure(error, server: server)
                logger.error("server failed to start", metadata: ["server": "\(server.name)", "error": "\(failure.message)"])
                publish(request, .failed(failure, until: .now.advanced(by: restartDelay(after: server.id))))
                request.stop.signal()
            }
            await group.waitForAll()
        }
        let reason = connection.closedReason?.message ?? "closed"
        logger.info("server disconnected", metadata: ["server": "\(server.name)", "reason": "\(reason)"])
        let unexpected = !request.stop.isSignalled
        let delay = unexpected ? restartDelay(after: server.id, upSince: started) : nil
        state.withLock { state in
            guard let entry = state.entries[server.id], entry.generation == request.generation, case .ready = entry.state else { return }
            if let delay {
                // It died on its own: the next start waits (growing with every death in a row).
                state.entries[server.id]?.state = .failed(
                    MCPSessionError(.startFailed, "server '\(server.name)' is restarting after it exited: \(reason)"),
                    until: .now.advanced(by: delay))
            } else {
                state.entries[server.id] = nil
            }
        }
    }

    /// Counts a failure in a row and returns how long to wait before the next start: 0.5 s,
    /// 1 s, 2 s, … up to `restartBackoffMax`, with jitter. A session that ran for a minute
    /// before it died starts the count again.
    private func restartDelay(after serverID: UUID, upSince: ContinuousClock.Instant? = nil) -> Duration {
        let failures = state.withLock { state in
            if let upSince, ContinuousClock.now - upSince > .seconds(60) { state.failuresInARow[serverID] = 0 }
            state.failuresInARow[serverID, default: 0] += 1
            return state.failuresInARow[serverID]!
        }
        return Backoff.delay(failedAttempt: failures, base: .milliseconds(500), cap: configuration.restartBackoffMax)
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

    private func publish(_ request: StartRequest, _ newState: EntryState) {
        let waiters: [CheckedContinuation<Session, any Error>] = state.withLock { state in
            guard var entry = state.entries[request.server.id], entry.generation == request.generation else { return [] }
            guard case .starting(let waiters) = entry.state else { return [] }
            entry.state = newState
            state.entries[request.server.id] = entry
            return waiters
        }
        for waiter in waiters {
            switch newState {
            case .ready(let session): waiter.resume(returning: session)
            case .failed(let error, _): waiter.resume(throwing: error)
            case .starting: break
            }
        }
    }
}
