import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Keeps one live MCP session per server and hands it to whoever needs to call a tool.
///
/// Sessions start lazily, on the first call for their server, and are reused for every call
/// after (one session multiplexes concurrent requests by JSON-RPC id). A session whose child
/// exits is replaced on the next call. A server that failed to start is not retried for
/// `failedStartCooldown`, so a broken server fails its executions fast instead of being
/// re-spawned once per execution.
///
/// The pool is a ``Service``: each session's child process lives in a task of its `run()`, and
/// graceful shutdown stops every child (stdin EOF, then SIGTERM, then SIGKILL to its group).
public final class SessionPool: Service, Sendable {
    /// What the pool needs to know about its sessions.
    public struct Configuration: Sendable {
        public var initializeTimeout: Duration = .seconds(30)
        public var childExitGrace: Duration = .seconds(2)
        public var maxMessageBytes: Int = 16 << 20
        public var failedStartCooldown: Duration = .seconds(2)
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
        var state: EntryState
        var stop: AsyncEvent
    }

    private struct State {
        var entries: [UUID: Entry] = [:]
        var nextGeneration = 0
        var shuttingDown = false
    }

    private struct StartRequest: Sendable {
        var server: ServerDescriptor
        var config: StdioServerConfig
        var generation: Int
        var stop: AsyncEvent
    }

    let configuration: Configuration
    let logger: Logger
    let handlersForServer: @Sendable (ServerDescriptor) -> MCPConnection.Handlers
    private let state = Mutex(State())
    private let startRequests: AsyncStream<StartRequest>
    private let startRequestsContinuation: AsyncStream<StartRequest>.Continuation

    /// - Parameters:
    ///   - handlersForServer: Notification callbacks for a server's sessions.
    public init(
        configuration: Configuration,
        logger: Logger,
        handlersForServer: @escaping @Sendable (ServerDescriptor) -> MCPConnection.Handlers = { _ in .init() }
    ) {
        self.configuration = configuration
        self.logger = logger
        self.handlersForServer = handlersForServer
        (startRequests, startRequestsContinuation) = AsyncStream.makeStream()
    }

    /// Runs every session's child process until graceful shutdown, then stops them all.
    public func run() async throws {
        await withDiscardingTaskGroup { group in
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
            guard let entry = state.entries[server.id], entry.configJSON == server.configJSON,
                case .ready(let session) = entry.state, !session.connection.isClosed
            else { return nil }
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
                if var entry = state.entries[server.id], entry.configJSON == server.configJSON {
                    switch entry.state {
                    case .ready(let session) where !session.connection.isClosed:
                        return .use(session)
                    case .starting(var waiters):
                        waiters.append(continuation)
                        entry.state = .starting(waiters)
                        state.entries[server.id] = entry
                        return .wait
                    case .failed(let error, let until) where ContinuousClock.now < until:
                        return .fail(error)
                    default:
                        break
                    }
                }
                let config: StdioServerConfig
                do {
                    guard server.serverType == "stdio" else {
                        throw ConfigurationError("server type '\(server.serverType)' is not supported yet (only stdio)")
                    }
                    config = try StdioServerConfig.parse(json: server.configJSON)
                } catch {
                    return .fail(MCPSessionError(.startFailed, "server '\(server.name)': \(error)"))
                }
                retiring = state.entries[server.id]?.stop
                state.nextGeneration += 1
                let stop = AsyncEvent()
                state.entries[server.id] = Entry(
                    generation: state.nextGeneration, configJSON: server.configJSON, state: .starting([continuation]), stop: stop)
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
        let connection = MCPConnection(
            serverName: server.name, logger: logger, handlers: handlersForServer(server),
            maxMessageBytes: configuration.maxMessageBytes)
        let transport = StdioTransport(
            config: request.config, serverName: server.name, exitGrace: configuration.childExitGrace,
            daemonEnvironment: configuration.daemonEnvironment, logger: logger)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await transport.run(connection: connection, stop: request.stop) }
            do {
                let info = try await connection.initialize(timeout: configuration.initializeTimeout)
                logger.info(
                    "server connected",
                    metadata: ["server": "\(server.name)", "protocol": "\(info.protocolVersion)", "implementation": "\(info.name) \(info.version)"])
                publish(request, .ready(Session(connection: connection, info: info)))
            } catch {
                let failure = Self.startFailure(error, server: server)
                logger.error("server failed to start", metadata: ["server": "\(server.name)", "error": "\(failure.message)"])
                publish(request, .failed(failure, until: .now.advanced(by: configuration.failedStartCooldown)))
                request.stop.signal()
            }
            await group.waitForAll()
        }
        let reason = connection.closedReason?.message ?? "closed"
        logger.info("server disconnected", metadata: ["server": "\(server.name)", "reason": "\(reason)"])
        state.withLock { state in
            if let entry = state.entries[server.id], entry.generation == request.generation, case .ready = entry.state {
                state.entries[server.id] = nil
            }
        }
    }

    private static func startFailure(_ error: any Error, server: ServerDescriptor) -> MCPSessionError {
        guard let error = error as? MCPSessionError else {
            return MCPSessionError(.startFailed, "server '\(server.name)' failed to start: \(error)")
        }
        switch error.code {
        case .startFailed, .unsupportedProtocolVersion:
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
