import Logging

/// Opens one session to one server and runs a few requests on it by hand: what
/// `astra-mcpd call` does, for operators checking a server and for MCP conformance runners.
///
/// The session is the daemon's own: a ``SessionPool`` built from the daemon's configuration
/// starts it with its ``SessionLauncher``, so a server behaves here as it does for the queue
/// (the same transports, `stdio_commands`, sandbox, network policy, credentials and OAuth).
/// Only a program named on the command line is allowed whatever `stdio_commands` says.
public struct OneShotClient: Sendable {
    public var configuration: DaemonConfiguration
    public var logger: Logger
    /// How long starting the server, and each request, may go without a sign of life. Defaults
    /// to `30` seconds.
    public var timeout: Duration = .seconds(30)
    /// Called for each progress notification of a call: progress, total, message.
    public var onProgress: @Sendable (Double, Double?, String?) -> Void = { _, _, _ in }
    /// Told what the client does on its own (falling back to the legacy HTTP+SSE transport).
    public var onNotice: @Sendable (String) -> Void = { _ in }

    public init(configuration: DaemonConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Starts `server`, runs `body` with its session, then stops the session (a stdio child gets
    /// EOF and its exit grace; an HTTP session is ended with DELETE).
    ///
    /// - Parameter interrupted: Returns when the operator interrupts (a signal); it must also
    ///   return when its task is cancelled. The request in flight is then cancelled (the server
    ///   is sent `notifications/cancelled`), the session stopped, and ``OneShotError/Code/interrupted``
    ///   thrown.
    /// - Throws: ``OneShotError`` for a failure of the client's own steps; whatever `body` throws.
    public func withSession<T: Sendable>(
        _ server: OneShotServer, interrupted: (@Sendable () async -> Void)? = nil, _ body: @escaping @Sendable (OneShotSession) async throws -> T
    ) async throws -> T {
        let pool = makePool(for: server)
        let interrupt = AsyncEvent()
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await pool.run()
                return nil
            }
            if let interrupted {
                group.addTask {
                    await interrupted()
                    if !Task.isCancelled { interrupt.signal() }
                    return nil
                }
            }
            group.addTask { try await run(server, pool: pool, interrupt: interrupt, body) }
            // The pool runs until cancelled, and the signal watcher until a signal or cancelled.
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            throw CancellationError()
        }
    }

    private func run<T: Sendable>(
        _ server: OneShotServer, pool: SessionPool, interrupt: AsyncEvent, _ body: @escaping @Sendable (OneShotSession) async throws -> T
    ) async throws -> T {
        let started = try await Self.unlessInterrupted(interrupt) {
            let started = try await start(server, pool: pool)
            // `notifications/initialized` is fire-and-forget, and a session closed straight after
            // initialize (the conformance runner's `initialize`) could cut it off: a ping's round
            // trip sees it delivered (in order over stdio; long since, in practice, over HTTP).
            do {
                try await started.session.connection.ping(timeout: timeout)
            } catch let error as MCPSessionError where error.code == .remoteError {
                // A server that does not answer ping (it must) has still read what came before.
            } catch {
                pool.shutdown()
                throw OneShotError.start((error as? MCPSessionError) ?? MCPSessionError(.protocolError, "\(error)"))
            }
            return started
        }
        let session = OneShotSession(
            server: started.server, info: started.session.info, connection: started.session.connection, timeout: timeout,
            maxDuration: configuration.defaultMaxDuration)
        let result: Result<T, any Error>
        do {
            result = .success(try await Self.unlessInterrupted(interrupt) { try await body(session) })
        } catch {
            result = .failure(error)
        }
        // Stopped as the daemon stops its sessions at shutdown; the pool's task is cancelled only
        // once the session has closed (a child that ignores its EOF gets SIGTERM, then SIGKILL).
        pool.shutdown()
        await session.connection.closed.wait(timeout: configuration.childExitGrace * 3)
        return try result.get()
    }

    /// A live session of `server`; for a URL that turns out to be a legacy HTTP+SSE server, of
    /// that server over the legacy transport.
    private func start(_ server: OneShotServer, pool: SessionPool) async throws(OneShotError) -> (server: ServerDescriptor, session: SessionPool.Session) {
        do {
            return (server.descriptor, try await pool.session(for: server.descriptor))
        } catch {
            guard let error = error as? MCPSessionError else { throw OneShotError(.unreachable, "\(error)") }
            // The spec's backwards compatibility: an old server refuses the POST with a 4xx.
            guard server.fallsBackToLegacySSE, let status = error.httpStatus, [400, 404, 405].contains(status) else {
                throw OneShotError.start(error)
            }
            onNotice("\(server.descriptor.name) answered the Streamable HTTP initialize with HTTP \(status); trying the legacy HTTP+SSE transport")
            let legacy = server.asLegacySSE()
            do {
                return (legacy.descriptor, try await pool.session(for: legacy.descriptor))
            } catch let sse as MCPSessionError {
                throw OneShotError.start(MCPSessionError(sse.code, "\(error.message); as legacy HTTP+SSE: \(sse.message)"))
            } catch let other {
                throw OneShotError(.unreachable, "\(error.message); as legacy HTTP+SSE: \(other)")
            }
        }
    }

    /// The daemon's pool settings, for one session started now and never restarted.
    private func makePool(for server: OneShotServer) -> SessionPool {
        var settings = SessionPool.Configuration(configuration)
        settings.initializeTimeout = timeout
        settings.sessionsPerServer = 1
        settings.idleTimeout = .zero
        if let command = server.operatorCommand {
            settings.stdioCommands = settings.stdioCommands.allowing(command, path: settings.daemonEnvironment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin")
        }
        var handlers = MCPConnection.Handlers()
        let onProgress = onProgress
        handlers.progress = { _, progress, total, message in onProgress(progress, total, message) }
        return SessionPool(configuration: settings, logger: logger, handlersForServer: { [handlers] _ in handlers }, credentials: server.credentials)
    }

    /// Runs `work` until it ends or `interrupt` is signalled; then `work` is cancelled and
    /// ``OneShotError/Code/interrupted`` thrown.
    private static func unlessInterrupted<T: Sendable>(_ interrupt: AsyncEvent, _ work: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await work() }
            group.addTask {
                await interrupt.wait()
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw OneShotError(.interrupted, "interrupted")
            }
            return value
        }
    }
}
