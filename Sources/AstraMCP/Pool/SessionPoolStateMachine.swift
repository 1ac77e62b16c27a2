import Foundation

/// The session pool's bookkeeping as a value: which sessions each server has, who waits for
/// one, when a failing server may start again.
///
/// Every event is one `mutating func` that returns what to do: sessions to start, sessions to
/// stop, waiters to resume. ``SessionPool`` runs those actions; the machine does no I/O, takes
/// the time as an argument and never sleeps, so tests drive it event by event.
///
/// A server's sessions live in slots `0..<poolSize`. A call gets the least busy live session
/// running the server's current config; a further session starts only when every open one has
/// calls in flight. Descriptors carry the row's `revision`: one older than the newest seen is
/// stale, and never replaces the sessions of a newer config.
struct SessionPoolStateMachine<Session: PooledSession, Clock: _Concurrency.Clock> where Clock.Duration == Duration {
    typealias Instant = Clock.Instant
    /// Someone waiting for a session, numbered by the executor.
    typealias WaiterID = Int

    struct Configuration {
        /// The most sessions per server, unless its config says `"sessions": N`.
        var defaultPoolSize = 1
        /// The longest wait before a failing server is started again.
        var restartBackoffMax: Duration = .seconds(60)
        /// How long an unused session stays open; zero keeps it.
        var idleTimeout: Duration = .zero
    }

    /// Start a session: its transport, then the initialize handshake.
    struct StartOrder {
        var id: PoolSessionID
        var server: ServerDescriptor
        var config: TransportConfig
    }

    /// Stop a session (or a start under way).
    struct StopOrder {
        var id: PoolSessionID
        var reason: String
        /// Set when the session is to finish the calls it has first (no new call reaches it).
        var drain: Session?
    }

    /// What an event asks the executor to do.
    struct Actions {
        var starts: [StartOrder] = []
        var stops: [StopOrder] = []
        var resumes: [(WaiterID, Result<Session, MCPSessionError>)] = []
        /// A server's first live session is ready: its tools want a sync.
        var firstReady: (server: ServerDescriptor, session: Session)?

        mutating func append(_ other: Actions) {
            starts += other.starts
            stops += other.stops
            resumes += other.resumes
            firstReady = firstReady ?? other.firstReady
        }
    }

    /// The answer to a request for a session.
    enum LeaseDecision {
        case use(Session)
        case fail(MCPSessionError)
        /// The waiter is registered: a later event resumes it.
        case wait(Actions)
    }

    enum SlotState {
        case starting(waiters: [WaiterID])
        case ready(Session)
        /// It failed to start or died; no start before `until`.
        case failed(MCPSessionError, until: Instant)
    }

    struct Slot {
        var id: PoolSessionID
        var configJSON: String
        /// The parsed config: the same config may come as differently spelled JSON.
        var config: TransportConfig
        var state: SlotState
        var createdAt: Instant
        var lastUsed: Instant

        /// Whether `server` asks for the config this slot runs.
        func runs(_ server: ServerDescriptor) -> Bool {
            configJSON == server.configJSON || (try? TransportConfig.parse(server)) == config
        }

        var isStarting: Bool { if case .starting = state { true } else { false } }
        var isFailed: Bool { if case .failed = state { true } else { false } }
    }

    struct PooledServer {
        /// The newest row seen (highest revision).
        var newest: ServerDescriptor
        var poolSize: Int
        /// Start failures and unexpected exits in a row, for the restart backoff.
        var failuresInARow = 0
        var slots: [Int: Slot] = [:]
    }

    let configuration: Configuration
    /// Where in its range each restart wait falls (0…1): random in the daemon, fixed in tests.
    let jitter: @Sendable () -> Double
    private(set) var servers: [UUID: PooledServer] = [:]
    /// Servers deactivated or deleted, and since when: no session starts for them, whatever row
    /// a caller still holds, until a list read after that says they are active again.
    private(set) var inactive: [UUID: Instant] = [:]
    private var nextGeneration = 0
    private(set) var isShuttingDown = false

    init(configuration: Configuration, jitter: @escaping @Sendable () -> Double = { .random(in: 0...1) }) {
        self.configuration = configuration
        self.jitter = jitter
    }

    /// The live sessions of each server that has any.
    var liveSessions: [UUID: Int] {
        servers.compactMapValues { server in
            let live = server.slots.values.filter { if case .ready = $0.state { true } else { false } }.count
            return live > 0 ? live : nil
        }
    }

    // MARK: Leasing

    /// A session for `descriptor`'s server: a live one when there is one to use, else `waiter`
    /// waits for a start (joining one under way, or a new one).
    mutating func lease(_ descriptor: ServerDescriptor, waiter: WaiterID, now: Instant) -> LeaseDecision {
        if isShuttingDown { return .fail(MCPSessionError(.disconnected, "astra-mcpd is shutting down")) }
        if inactive[descriptor.id] != nil {
            return .fail(MCPSessionError(.misconfigured, "server '\(descriptor.name)' is inactive"))
        }
        let server = adopt(descriptor)
        let id = server.id
        let size = servers[id]!.poolSize

        // The hot path: the least busy live session with the current config.
        var best: (slot: Int, session: Session, pending: Int)?
        var canGrow = false
        var freeSlot: Int?
        var joinable: (id: PoolSessionID, waiters: Int)?
        for slot in 0..<size {
            guard let entry = servers[id]!.slots[slot] else {
                canGrow = true
                freeSlot = freeSlot ?? slot
                continue
            }
            guard entry.runs(server) else { continue }
            switch entry.state {
            case .ready(let session) where !session.isClosed:
                // With one session per server there is nothing to compare.
                let pending = size == 1 ? 0 : session.pendingCount
                if best == nil || pending < best!.pending { best = (slot, session, pending) }
            case .starting(let waiters):
                canGrow = true
                if joinable == nil || waiters.count < joinable!.waiters { joinable = (entry.id, waiters.count) }
            case .failed(_, let until):
                if now >= until {
                    canGrow = true
                    freeSlot = freeSlot ?? slot
                }
            case .ready:
                break
            }
            if best?.pending == 0 { break }
        }
        if let best {
            servers[id]!.slots[best.slot]!.lastUsed = now
            guard best.pending > 0, canGrow else { return .use(best.session) }
            // Every live session is busy and the server answers one call at a time: wait for a
            // further session rather than queue behind calls in flight.
            if let joinable, joinable.waiters < best.pending {
                addWaiter(waiter, to: joinable.id)
                return .wait(Actions())
            }
            if let freeSlot, let config = try? TransportConfig.parse(server) {
                return .wait(Actions(starts: [addSlot(server, config: config, slot: freeSlot, waiters: [waiter], now: now)]))
            }
            return .use(best.session)
        }
        return startOrJoin(server, waiter: waiter, now: now)
    }

    /// No live session: joins a start under way, or starts the server's first session
    /// (replacing sessions of an older config), or fails fast while the server waits out its
    /// restart delay.
    private mutating func startOrJoin(_ server: ServerDescriptor, waiter: WaiterID, now: Instant) -> LeaseDecision {
        let id = server.id
        if let starting = servers[id]!.slots.values.first(where: { $0.isStarting && $0.runs(server) }) {
            addWaiter(waiter, to: starting.id)
            return .wait(Actions())
        }
        if let first = servers[id]!.slots[0], first.runs(server) {
            switch first.state {
            case .ready(let session):
                // It died and its teardown is still running: count the death here (the teardown
                // will find the slot replaced), so a server that keeps dying under steady traffic
                // backs off too; the first death restarts at once.
                let failures = countFailure(of: id, upFor: first.createdAt.duration(to: now))
                if failures > 1 {
                    let delay = restartDelay(failures)
                    var error = Self.restarting(server, reason: session.closedReason ?? "closed")
                    servers[id]!.slots[0]!.state = .failed(error, until: now.advanced(by: delay))
                    error.retryAfter = delay
                    return .fail(error)
                }
            case .failed(var error, let until) where now < until:
                error.retryAfter = now.duration(to: until)
                return .fail(error)
            default:
                break
            }
        }
        let config: TransportConfig
        do {
            config = try TransportConfig.parse(server)
            servers[id]!.poolSize = try poolSize(server)
        } catch {
            return .fail(MCPSessionError(.misconfigured, "server '\(server.name)': \(error)"))
        }
        // Slot 0 and the sessions of an older config are replaced; whoever waits for one of
        // those to start waits for the new one instead.
        var actions = Actions()
        var waiters: [WaiterID] = []
        for (slot, entry) in servers[id]!.slots where slot == 0 || !entry.runs(server) {
            servers[id]!.slots[slot] = nil
            actions.stops.append(StopOrder(id: entry.id, reason: "replaced by a new session"))
            if case .starting(let old) = entry.state { waiters += old }
        }
        actions.starts.append(addSlot(server, config: config, slot: 0, waiters: waiters + [waiter], now: now))
        return .wait(actions)
    }

    /// Gives up waiting (the caller was cancelled).
    mutating func cancelWaiter(_ waiter: WaiterID) -> Actions {
        for (serverID, server) in servers {
            for (slot, entry) in server.slots {
                guard case .starting(var waiters) = entry.state, let index = waiters.firstIndex(of: waiter) else { continue }
                waiters.remove(at: index)
                servers[serverID]!.slots[slot]!.state = .starting(waiters: waiters)
                return Actions(resumes: [(waiter, .failure(MCPSessionError(.cancelled, "cancelled while waiting for a session")))])
            }
        }
        return Actions()
    }

    // MARK: What the sessions report

    /// A session completed its initialize handshake.
    mutating func sessionStarted(_ id: PoolSessionID, session: Session, now: Instant) -> Actions {
        guard let entry = slot(id), case .starting(let waiters) = entry.state else {
            return Actions()  // retired meanwhile; its stop was ordered then
        }
        servers[id.serverID]!.slots[id.slot]!.state = .ready(session)
        servers[id.serverID]!.slots[id.slot]!.lastUsed = now
        var actions = Actions(resumes: waiters.map { ($0, .success(session)) })
        let othersReady = servers[id.serverID]!.slots.values.contains { other in
            guard other.id != id, case .ready = other.state else { return false }
            return true
        }
        // A further session of a server already up needs no tool sync.
        if !othersReady { actions.firstReady = (servers[id.serverID]!.newest, session) }
        return actions
    }

    /// A session failed to start (its transport, its credential or initialize).
    mutating func sessionFailedToStart(_ id: PoolSessionID, error: MCPSessionError, now: Instant) -> Actions {
        guard let entry = slot(id), case .starting(let waiters) = entry.state else { return Actions() }
        let delay = restartDelay(countFailure(of: id.serverID, upFor: nil))
        servers[id.serverID]!.slots[id.slot]!.state = .failed(error, until: now.advanced(by: delay))
        // A further session that failed: its waiters share the busy ones after all.
        if id.slot > 0, let live = leastBusyLiveSession(of: id.serverID) {
            return Actions(resumes: waiters.map { ($0, .success(live)) })
        }
        return Actions(resumes: waiters.map { ($0, .failure(error)) })
    }

    /// A ready session's transport has ended. `unexpected` when nobody stopped it: the server
    /// died, and its next start waits out the restart backoff.
    mutating func sessionEnded(_ id: PoolSessionID, unexpected: Bool, reason: String, now: Instant) {
        guard let entry = slot(id), case .ready = entry.state else { return }
        guard unexpected else {
            servers[id.serverID]!.slots[id.slot] = nil
            return
        }
        let delay = restartDelay(countFailure(of: id.serverID, upFor: entry.createdAt.duration(to: now)))
        let error = Self.restarting(servers[id.serverID]!.newest, reason: reason)
        servers[id.serverID]!.slots[id.slot]!.state = .failed(error, until: now.advanced(by: delay))
    }

    // MARK: Changes to servers

    /// Stops every session of one server (its row changed, it was deactivated or deleted); the
    /// next call starts a new one, unless `deactivated`, which refuses new sessions until a
    /// list read later (``reconcile(active:readAt:now:)``) or a row (``reconcile(only:now:)``)
    /// says it is active.
    /// - Parameter draining: Let ready sessions finish the calls they have first.
    mutating func retire(serverID: UUID, reason: String, deactivated: Bool = false, draining: Bool = false, now: Instant) -> Actions {
        if deactivated { inactive[serverID] = now }
        guard let server = servers[serverID] else { return Actions() }
        let actions = remove(Array(server.slots.keys), of: serverID, reason: reason, draining: draining)
        // Deactivated or deleted: what was known of it goes too (a row inserted again under the
        // same id starts its revisions afresh).
        if deactivated { servers[serverID] = nil }
        return actions
    }

    /// Stops the sessions whose server is not in `active`, or runs another config than it says.
    /// - Parameter readAt: When `active` was read: sessions started since are left alone, as the
    ///   list may predate them; so are sessions of a newer revision than the list's.
    /// - Returns: The servers whose sessions were stopped.
    mutating func reconcile(active: [ServerDescriptor], readAt: Instant, now: Instant) -> (stopped: [UUID], actions: Actions) {
        let wanted = Dictionary(active.map { ($0.id, $0) }, uniquingKeysWith: { $1 })
        // Active in a list read after it was deactivated: it was reactivated.
        inactive = inactive.filter { id, since in wanted[id] == nil || since >= readAt }
        var stopped: [UUID] = []
        var actions = Actions()
        for (id, server) in servers where !server.slots.isEmpty {
            let listed = wanted[id]
            if let listed, isStale(listed, known: server.newest) { continue }
            let stale = server.slots.values.contains { slot in
                slot.createdAt < readAt && listed.map(slot.runs) != true
            }
            guard stale else { continue }
            stopped.append(id)
            actions.append(retire(serverID: id, reason: listed == nil ? "server is no longer active" : "server config changed", now: now))
        }
        for server in active where !stopped.contains(server.id) {
            actions.append(resize(server))
        }
        return (stopped, actions)
    }

    /// Takes in one server's row, read after a change: stops its sessions if they run another
    /// config, and the ones beyond a smaller pool. A row older than one seen changes nothing; a
    /// newer one is remembered even while the server has no session, so a stale copy read
    /// before the change (a claim that raced it) cannot start the old config later.
    mutating func reconcile(only descriptor: ServerDescriptor, now: Instant) -> Actions {
        if let known = servers[descriptor.id], isStale(descriptor, known: known.newest) { return Actions() }
        if descriptor.isActive { inactive[descriptor.id] = nil }
        let server = adopt(descriptor)
        if servers[server.id]!.slots.values.contains(where: { !$0.runs(server) }) {
            return retire(serverID: server.id, reason: "server config changed", now: now)
        }
        return resize(server)
    }

    /// Remembers `descriptor` as its server's newest row (unless it is stale), and stops the
    /// sessions beyond a smaller `"sessions"`. Whoever waits for a further session that is
    /// stopped so shares the busy ones.
    private mutating func resize(_ descriptor: ServerDescriptor) -> Actions {
        if let known = servers[descriptor.id], isStale(descriptor, known: known.newest) { return Actions() }
        let server = adopt(descriptor)
        guard let size = try? poolSize(server), servers[server.id]!.poolSize != size else { return Actions() }
        servers[server.id]!.poolSize = size
        let surplus = servers[server.id]!.slots.keys.filter { $0 >= size }
        var actions = remove(surplus, of: server.id, reason: "the server's pool is smaller now")
        if let live = leastBusyLiveSession(of: server.id) {
            actions.resumes = actions.resumes.map { waiter, result in (waiter, result.flatMapError { _ in .success(live) }) }
        }
        return actions
    }

    /// Stops the sessions nobody used for `idleTimeout` and that have nothing in flight.
    mutating func closeIdleSessions(now: Instant) -> Actions {
        guard configuration.idleTimeout > .zero else { return Actions() }
        var actions = Actions()
        for (id, server) in servers {
            let idle = server.slots.filter { _, slot in
                guard case .ready(let session) = slot.state, session.pendingCount == 0 else { return false }
                return slot.lastUsed.duration(to: now) >= configuration.idleTimeout
            }
            actions.append(remove(Array(idle.keys), of: id, reason: "idle"))
        }
        return actions
    }

    /// Stops every session and refuses new ones.
    mutating func shutdown() -> Actions {
        isShuttingDown = true
        var actions = Actions()
        for (id, server) in servers {
            actions.append(remove(Array(server.slots.keys), of: id, reason: "astra-mcpd is shutting down"))
        }
        return actions
    }

    // MARK: Reading

    /// The servers with a live or starting session.
    var serverIDs: [UUID] { servers.filter { !$0.value.slots.isEmpty }.map(\.key) }

    /// How many sessions (live or starting) a server has.
    func sessionCount(serverID: UUID) -> Int {
        servers[serverID]?.slots.values.count { !$0.isFailed } ?? 0
    }

    // MARK: Helpers

    /// Records `descriptor` if it is the newest row of its server, and returns the newest. A
    /// descriptor of revision 0 (one not read from the database) counts as the current revision.
    private mutating func adopt(_ descriptor: ServerDescriptor) -> ServerDescriptor {
        guard let known = servers[descriptor.id]?.newest else {
            servers[descriptor.id] = PooledServer(
                newest: descriptor, poolSize: (try? poolSize(descriptor)) ?? configuration.defaultPoolSize)
            return descriptor
        }
        if isStale(descriptor, known: known) { return known }
        var adopted = descriptor
        adopted.revision = max(descriptor.revision, known.revision)
        if adopted.revision > known.revision || descriptor.configJSON != known.configJSON || descriptor.name != known.name {
            servers[descriptor.id]!.newest = adopted
        }
        return adopted
    }

    /// Whether `descriptor` was read before the row the pool knows as `known`.
    private func isStale(_ descriptor: ServerDescriptor, known: ServerDescriptor) -> Bool {
        descriptor.revision != 0 && descriptor.revision < known.revision
    }

    private func slot(_ id: PoolSessionID) -> Slot? {
        guard let entry = servers[id.serverID]?.slots[id.slot], entry.id.generation == id.generation else { return nil }
        return entry
    }

    /// Adds a waiter to the start under way in `id`'s slot.
    private mutating func addWaiter(_ waiter: WaiterID, to id: PoolSessionID) {
        guard case .starting(let waiters) = servers[id.serverID]!.slots[id.slot]!.state else { return }
        servers[id.serverID]!.slots[id.slot]!.state = .starting(waiters: waiters + [waiter])
    }

    private mutating func addSlot(
        _ server: ServerDescriptor, config: TransportConfig, slot: Int, waiters: [WaiterID], now: Instant
    ) -> StartOrder {
        nextGeneration += 1
        let id = PoolSessionID(serverID: server.id, slot: slot, generation: nextGeneration)
        servers[server.id]!.slots[slot] = Slot(
            id: id, configJSON: server.configJSON, config: config, state: .starting(waiters: waiters), createdAt: now, lastUsed: now)
        return StartOrder(id: id, server: server, config: config)
    }

    /// Removes slots and orders their sessions stopped; whoever waits for one of them to start
    /// is told why it will not.
    private mutating func remove(_ slots: [Int], of serverID: UUID, reason: String, draining: Bool = false) -> Actions {
        var actions = Actions()
        for slot in slots {
            guard let entry = servers[serverID]?.slots.removeValue(forKey: slot) else { continue }
            switch entry.state {
            case .ready(let session):
                actions.stops.append(StopOrder(id: entry.id, reason: reason, drain: draining ? session : nil))
            case .starting(let waiters):
                actions.stops.append(StopOrder(id: entry.id, reason: reason))
                let error = MCPSessionError(.disconnected, "the server's session was stopped while starting: \(reason)")
                actions.resumes += waiters.map { ($0, .failure(error)) }
            case .failed:
                break
            }
        }
        return actions
    }

    private func leastBusyLiveSession(of serverID: UUID) -> Session? {
        guard let server = servers[serverID] else { return nil }
        var best: Session?
        for slot in server.slots.values where slot.runs(server.newest) {
            guard case .ready(let session) = slot.state, !session.isClosed else { continue }
            if best == nil || session.pendingCount < best!.pendingCount { best = session }
        }
        return best
    }

    /// Counts a start failure or an unexpected exit; returns how many came in a row.
    private mutating func countFailure(of serverID: UUID, upFor: Duration?) -> Int {
        let failures = RestartBackoff.failuresInARow(before: servers[serverID]!.failuresInARow, upFor: upFor)
        servers[serverID]!.failuresInARow = failures
        return failures
    }

    private func restartDelay(_ failuresInARow: Int) -> Duration {
        RestartBackoff.delay(failuresInARow: failuresInARow, cap: configuration.restartBackoffMax, jitter: jitter())
    }

    /// The pool size `server` asks for: its config's `"sessions"`, else the default.
    private func poolSize(_ server: ServerDescriptor) throws(ConfigurationError) -> Int {
        try ServerPoolOptions.parse(json: server.configJSON).sessions ?? configuration.defaultPoolSize
    }

    static func restarting(_ server: ServerDescriptor, reason: String) -> MCPSessionError {
        MCPSessionError(.startFailed, "server '\(server.name)' is restarting after it exited: \(reason)")
    }
}
