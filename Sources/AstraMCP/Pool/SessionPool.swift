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
/// a while (``RestartBackoff``), so a broken server fails its executions fast instead of being
/// re-spawned once per execution.
///
/// What the pool decides lives in ``SessionPoolStateMachine``; this type runs its actions
/// (starting sessions with ``SessionLauncher``, stopping them, resuming waiters) and holds the
/// machine under one lock. The hot path, a live session to use, takes that lock once and
/// never suspends.
///
/// The pool is a ``Service``: each session's transport lives in a task of its `run()`, and
/// graceful shutdown stops every child (stdin EOF, then SIGTERM, then SIGKILL to its group).
public final class SessionPool: Service, Sendable {
    /// A ready session.
    public struct Session: Sendable, PooledSession {
        public var connection: MCPConnection
        public var info: MCPServerInfo

        var pendingCount: Int { connection.pendingCount }
        var isClosed: Bool { connection.isClosed }
        var closedReason: String? { connection.closedReason?.message }
    }

    typealias Machine = SessionPoolStateMachine<Session, ContinuousClock>

    /// The machine and what the executor keeps beside it.
    private struct State {
        var machine: Machine
        var nextWaiter = 0
        var waiting: [Machine.WaiterID: CheckedContinuation<Session, any Error>] = [:]
        /// Answers for waiters that have not parked their continuation yet.
        var early: [Machine.WaiterID: Result<Session, MCPSessionError>] = [:]
        /// The stop signal of each session ordered started and not yet ended.
        var stopSignals: [PoolSessionID: AsyncEvent] = [:]
        /// Each ready session's connection, and the sessions whose stop order found it closed
        /// already (a call found it dead): with those that ended unasked, what metrics count as
        /// restarts.
        var connections: [PoolSessionID: MCPConnection] = [:]
        var stoppedDead: Set<PoolSessionID> = []

        /// Turns the machine's actions into work to do once the lock is released.
        mutating func prepare(_ actions: Machine.Actions) -> Work {
            var work = Work(firstReady: actions.firstReady)
            for start in actions.starts {
                let stop = AsyncEvent()
                stopSignals[start.id] = stop
                work.starts.append((start, stop))
            }
            for order in actions.stops {
                guard let stop = stopSignals[order.id] else { continue }
                if connections[order.id]?.isClosed == true { stoppedDead.insert(order.id) }
                work.stops.append((order, stop))
            }
            for (waiter, result) in actions.resumes {
                if let continuation = waiting.removeValue(forKey: waiter) {
                    work.resumes.append((continuation, result))
                } else {
                    early[waiter] = result
                }
            }
            return work
        }
    }

    /// Actions ready to run outside the lock.
    private struct Work {
        var starts: [(Machine.StartOrder, AsyncEvent)] = []
        var stops: [(Machine.StopOrder, AsyncEvent)] = []
        var resumes: [(CheckedContinuation<Session, any Error>, Result<Session, MCPSessionError>)] = []
        var firstReady: (server: ServerDescriptor, session: Session)?
    }

    private struct StartRequest: Sendable {
        var order: Machine.StartOrder
        var stop: AsyncEvent
    }

    let configuration: Configuration
    let logger: Logger
    let onSessionReady: @Sendable (ServerDescriptor, Session) -> Void
    /// Redirects are not followed (one to another origin would carry the session elsewhere).
    let httpClients: PinnedHTTPClients
    /// Where session starts, failures and restarts are counted.
    let metrics: EngineMetrics
    private let launcher: SessionLauncher
    private let state: Mutex<State>
    private let startRequests: AsyncStream<StartRequest>
    private let startRequestsContinuation: AsyncStream<StartRequest>.Continuation

    /// - Parameters:
    ///   - handlersForServer: Notification callbacks for a server's sessions.
    ///   - onSessionReady: Called each time a server's first live session has completed
    ///     initialize (its tools may want a sync).
    ///   - credentials: Looks up a server's stored secret of a `credential_type` (for its `auth`, or its `env`).
    ///   - metrics: Where session starts, failures and restarts are counted.
    public init(
        configuration: Configuration,
        logger: Logger,
        handlersForServer: @escaping @Sendable (ServerDescriptor) -> MCPConnection.Handlers = { _ in .init() },
        onSessionReady: @escaping @Sendable (ServerDescriptor, Session) -> Void = { _, _ in },
        credentials: @escaping @Sendable (ServerDescriptor, String) async throws -> StoredSecret = { _, _ in
            throw CredentialError("credentials are not available here")
        },
        metrics: EngineMetrics = .disabled
    ) {
        self.metrics = metrics
        self.configuration = configuration
        self.logger = logger
        self.onSessionReady = onSessionReady
        var httpConfiguration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        httpConfiguration.timeout = .init(connect: .seconds(10), read: TimeAmount(configuration.httpReadTimeout))
        httpConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = configuration.httpConnectionsPerHost
        httpConfiguration.connectionPool.idleTimeout = TimeAmount(configuration.httpIdleTimeout)
        // A refused connection fails at once; retries are the retry policy's to decide.
        httpConfiguration.connectionPool.retryConnectionEstablishment = false
        var singleUse = httpConfiguration
        singleUse.maximumUsesPerConnection = 1
        httpClients = PinnedHTTPClients(
            configuration: httpConfiguration, singleUseConfiguration: singleUse, policy: configuration.networkPolicy, logger: logger)
        state = Mutex(
            State(
                machine: Machine(
                    configuration: .init(
                        defaultPoolSize: configuration.sessionsPerServer, restartBackoffMax: configuration.restartBackoffMax,
                        idleTimeout: configuration.idleTimeout))))
        (startRequests, startRequestsContinuation) = AsyncStream.makeStream()
        launcher = SessionLauncher(
            configuration: configuration, stdioCommands: LiveValue(configuration.stdioCommands), logger: logger, httpClients: httpClients,
            handlersForServer: handlersForServer, credentials: credentials)
    }

    /// Applies a reloaded `stdio_commands`, `network_allow` and `network_deny`. The sessions the
    /// change concerns (stdio ones for the programs, remote ones for the network) are retired
    /// once their calls in flight have finished, so the next call starts a session the new
    /// policy judges.
    public func reconfigure(stdioCommands: StdioCommandPolicy, networkPolicy: NetworkPolicy) {
        let commandsChanged = launcher.stdioCommands.value != stdioCommands
        let networkChanged = httpClients.policy != networkPolicy
        guard commandsChanged || networkChanged else { return }
        launcher.stdioCommands.value = stdioCommands
        httpClients.setPolicy(networkPolicy)
        let concerned = state.withLock { state in
            state.machine.servers.values.filter { !$0.slots.isEmpty }.map(\.newest).filter { ($0.serverType == "stdio") ? commandsChanged : networkChanged }
        }
        for server in concerned {
            retire(serverID: server.id, reason: "the configuration reload changed what it may reach", draining: true)
        }
    }

    /// The live sessions of each server that has any (for `astra-mcpd status`).
    public var liveSessions: [UUID: Int] {
        state.withLock { $0.machine.liveSessions }
    }

    // MARK: Running

    /// Runs every session's transport until graceful shutdown, then stops them all.
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
        await httpClients.shutdown()
    }

    /// Runs one session and reports how it went to the machine.
    private func runSession(_ request: StartRequest) async {
        let order = request.order
        let server = order.server
        guard !request.stop.isSignalled else {
            // Stopped before it began (shutdown came first).
            apply { $0.sessionFailedToStart(order.id, error: MCPSessionError(.disconnected, "astra-mcpd is shutting down"), now: .now) }
            forget(order.id)
            return
        }
        // Every record the session, its transport and its child log names the server.
        var launcher = self.launcher
        for (key, value) in server.logMetadata { launcher.logger[metadataKey: key] = value }
        let connection = await launcher.run(
            server, config: order.config, slot: order.id.slot, stop: request.stop,
            credentialExpired: { self.retire(serverID: server.id, reason: "its credential expired", draining: true) }
        ) { result in
            switch result {
            case .success(let session): apply { $0.sessionStarted(order.id, session: session, now: .now) }
            case .failure(let error): apply { $0.sessionFailedToStart(order.id, error: error, now: .now) }
            }
            if case .success(let session) = result { state.withLock { $0.connections[order.id] = session.connection } }
            metrics.sessionStarted(server, ok: (try? result.get()) != nil)
        }
        let reason = connection.closedReason?.message ?? "closed"
        logger.info("server disconnected", metadata: server.logMetadata.merging(["session": "\(order.id.slot)", "reason": "\(reason)"]) { $1 })
        let unexpected = !request.stop.isSignalled
        let died = state.withLock { state in
            state.machine.sessionEnded(order.id, unexpected: unexpected, reason: reason, now: .now)
            state.stopSignals[order.id] = nil
            let stoppedDead = state.stoppedDead.remove(order.id) != nil
            return state.connections.removeValue(forKey: order.id) != nil && (unexpected || stoppedDead)
        }
        metrics.sessionEnded(server, died: died)
    }

    private func forget(_ id: PoolSessionID) {
        state.withLock { _ = $0.stopSignals.removeValue(forKey: id) }
    }

    /// Closes sessions nobody used for `idleTimeout` (and with nothing in flight).
    private func closeIdleSessions() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: min(configuration.idleTimeout / 2, .seconds(30)))
            apply { $0.closeIdleSessions(now: .now) }
        }
    }

    // MARK: Public API

    /// A live session for `server`, starting one if needed.
    /// - Throws: ``MCPSessionError`` when the server cannot be started or initialized.
    public func session(for server: ServerDescriptor) async throws -> Session {
        let (waiter, decision, work) = state.withLock { state -> (Machine.WaiterID, Machine.LeaseDecision, Work?) in
            let waiter = state.nextWaiter
            state.nextWaiter += 1
            let decision = state.machine.lease(server, waiter: waiter, now: .now)
            guard case .wait(let actions) = decision else { return (waiter, decision, nil) }
            return (waiter, decision, state.prepare(actions))
        }
        switch decision {
        case .use(let session): return session
        case .fail(let error): throw error
        case .wait: break
        }
        if let work { run(work) }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Session, any Error>) in
                let early = state.withLock { state -> Result<Session, MCPSessionError>? in
                    if let result = state.early.removeValue(forKey: waiter) { return result }
                    state.waiting[waiter] = continuation
                    return nil
                }
                if let early { continuation.resume(with: early.mapError { $0 }) }
            }
        } onCancel: {
            apply { $0.cancelWaiter(waiter) }
        }
    }

    /// Stops every session of one server (its row changed, it was deactivated or deleted); the
    /// next call for it starts a new one — unless `deactivated`, which refuses new sessions until
    /// ``reconcile(only:)`` sees the server active again.
    ///
    /// - Parameter draining: Let each session finish the calls it has before it stops (no new
    ///   call reaches it): for a change that does not make those calls wrong, such as a new
    ///   credential.
    public func retire(serverID: UUID, reason: String, deactivated: Bool = false, draining: Bool = false) {
        apply { $0.retire(serverID: serverID, reason: reason, deactivated: deactivated, draining: draining, now: .now) }
    }

    /// Stops every session whose server is not in `active` or whose config changed.
    /// - Returns: The servers whose sessions were stopped.
    /// - Parameter readAt: When `active` was read: sessions started since are left alone, as the
    ///   list may predate their server.
    @discardableResult
    public func reconcile(active: [ServerDescriptor], readAt: ContinuousClock.Instant) -> [UUID] {
        let (stopped, work) = state.withLock { state in
            let (stopped, actions) = state.machine.reconcile(active: active, readAt: readAt, now: .now)
            return (stopped, state.prepare(actions))
        }
        run(work)
        return stopped
    }

    /// Stops `server`'s sessions if they run with another config, and the ones beyond a smaller
    /// pool size. A row older than one the pool has seen changes nothing.
    public func reconcile(only server: ServerDescriptor) {
        apply { $0.reconcile(only: server, now: .now) }
    }

    /// The servers with a live or starting session.
    public var serverIDs: [UUID] { state.withLock { $0.machine.serverIDs } }

    /// How many sessions (live or starting) `serverID` has.
    public func sessionCount(serverID: UUID) -> Int { state.withLock { $0.machine.sessionCount(serverID: serverID) } }

    /// Stops every session and refuses new ones.
    public func shutdown() {
        apply { $0.shutdown() }
        startRequestsContinuation.finish()
        // Sessions retired while draining are no longer the machine's, but still run: stop them too.
        for stop in state.withLock({ Array($0.stopSignals.values) }) { stop.signal() }
    }

    // MARK: Executing the machine's actions

    /// Feeds one event to the machine and runs what it asks for.
    private func apply(_ event: (inout Machine) -> Machine.Actions) {
        let work = state.withLock { state in
            let actions = event(&state.machine)
            return state.prepare(actions)
        }
        run(work)
    }

    private func run(_ work: Work) {
        for (order, stop) in work.stops {
            if let session = order.drain {
                logger.info(
                    "retiring server session after its calls",
                    metadata: ["server_id": "\(order.id.serverID)", "session": "\(order.id.slot)", "reason": "\(order.reason)"])
                session.connection.whenIdle { stop.signal() }
            } else {
                logger.info(
                    "stopping server session", metadata: ["server_id": "\(order.id.serverID)", "session": "\(order.id.slot)", "reason": "\(order.reason)"])
                stop.signal()
            }
        }
        for (continuation, result) in work.resumes { continuation.resume(with: result.mapError { $0 }) }
        for (order, stop) in work.starts {
            if order.id.slot > 0 { logger.debug("opening another session", metadata: order.server.logMetadata.merging(["session": "\(order.id.slot)"]) { $1 }) }
            if case .terminated = startRequestsContinuation.yield(StartRequest(order: order, stop: stop)) {
                apply { $0.sessionFailedToStart(order.id, error: MCPSessionError(.disconnected, "astra-mcpd is shutting down"), now: .now) }
                forget(order.id)
            }
        }
        if let (server, session) = work.firstReady { onSessionReady(server, session) }
    }
}
