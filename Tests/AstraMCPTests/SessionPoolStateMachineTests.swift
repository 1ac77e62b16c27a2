import Foundation
import Testing

@testable import AstraMCP

/// The pool's decisions, event by event: no processes, no I/O, no sleeps; time is an argument.
@Suite("Session pool state machine")
struct SessionPoolStateMachineTests {
    final class FakeSession: PooledSession, CustomStringConvertible {
        let name: String
        var pendingCount = 0
        var isClosed = false
        var closedReason: String?
        init(_ name: String) { self.name = name }
        var description: String { name }
    }

    typealias Machine = SessionPoolStateMachine<FakeSession, ContinuousClock>

    let t0 = ContinuousClock.now
    func at(_ offset: Duration) -> ContinuousClock.Instant { t0.advanced(by: offset) }

    static func machine(poolSize: Int = 1, idleTimeout: Duration = .zero) -> Machine {
        // Jitter 1: each restart wait is its full bound (0.5 s, 1 s, 2 s, …).
        Machine(configuration: .init(defaultPoolSize: poolSize, restartBackoffMax: .seconds(8), idleTimeout: idleTimeout), jitter: { 1 })
    }

    static func server(config: String = #"{"command":"srv"}"#, revision: Int64 = 1, id: UUID = UUID(uuidString: "00000000-0000-0000-0000-000000000001")!) -> ServerDescriptor {
        ServerDescriptor(id: id, name: "calc", serverType: "stdio", isActive: true, configJSON: config, revision: revision)
    }

    /// The start a lease asked for; fails the test when it asked for none.
    func start(_ decision: Machine.LeaseDecision, sourceLocation: SourceLocation = #_sourceLocation) throws -> Machine.StartOrder {
        guard case .wait(let actions) = decision, let start = actions.starts.first else {
            Issue.record("expected a start, got \(decision)", sourceLocation: sourceLocation)
            throw CancellationError()
        }
        return start
    }

    func used(_ decision: Machine.LeaseDecision) -> FakeSession? {
        if case .use(let session) = decision { return session }
        return nil
    }

    func failure(_ decision: Machine.LeaseDecision) -> MCPSessionError? {
        if case .fail(let error) = decision { return error }
        return nil
    }

    func isPlainWait(_ decision: Machine.LeaseDecision) -> Bool {
        if case .wait(let actions) = decision { return actions.starts.isEmpty && actions.stops.isEmpty }
        return false
    }

    /// The first session ready with a call in flight (waiter 1), and the start of a
    /// second one that waiter 2 waits for.
    func busySessionAndFurtherStart(
        _ machine: inout Machine, _ server: ServerDescriptor
    ) throws -> (first: Machine.StartOrder, busy: FakeSession, second: Machine.StartOrder) {
        let first = try start(machine.lease(server, waiter: 1, now: t0))
        let busy = FakeSession("a")
        _ = machine.sessionStarted(first.id, session: busy, now: t0)
        busy.pendingCount = 1
        return (first, busy, try start(machine.lease(server, waiter: 2, now: t0)))
    }

    @Test("the first lease starts a session, later ones join it, all get it when it is ready; then it is used at once")
    func startJoinReady() throws {
        var machine = Self.machine()
        let server = Self.server()
        let order = try start(machine.lease(server, waiter: 1, now: t0))
        #expect(order.id.slot == 0)
        #expect(isPlainWait(machine.lease(server, waiter: 2, now: t0)))
        #expect(machine.sessionCount(serverID: server.id) == 1)

        let session = FakeSession("a")
        let actions = machine.sessionStarted(order.id, session: session, now: at(.milliseconds(10)))
        #expect(actions.resumes.map(\.0) == [1, 2])
        #expect(actions.resumes.allSatisfy { (try? $0.1.get()) === session })
        #expect(actions.firstReady?.session === session, "a server's first session wants a tool sync")

        session.pendingCount = 5
        #expect(used(machine.lease(server, waiter: 3, now: at(.seconds(1)))) === session, "one session per server multiplexes")
    }

    @Test("a server with \"sessions\": 3 grows only while every open session is busy, and calls go to the least busy")
    func growsWhenBusy() throws {
        var machine = Self.machine()
        let server = Self.server(config: #"{"command":"srv","sessions":3}"#)
        let first = try start(machine.lease(server, waiter: 1, now: t0))
        let a = FakeSession("a")
        _ = machine.sessionStarted(first.id, session: a, now: t0)
        #expect(used(machine.lease(server, waiter: 2, now: t0)) === a, "idle: no further session")

        a.pendingCount = 2
        let second = try start(machine.lease(server, waiter: 3, now: t0))
        #expect(second.id.slot == 1)
        // Busier (2 in flight) than the start has waiters (1): join it.
        #expect(isPlainWait(machine.lease(server, waiter: 4, now: t0)))
        // Now the start has as many waiters as the session calls: the third slot starts.
        let third = try start(machine.lease(server, waiter: 5, now: t0))
        #expect(third.id.slot == 2)

        let b = FakeSession("b")
        let ready = machine.sessionStarted(second.id, session: b, now: t0)
        #expect(ready.resumes.map(\.0) == [3, 4])
        #expect(ready.firstReady == nil, "a further session needs no tool sync")
        b.pendingCount = 1
        // Every slot is taken; the least busy session is used.
        #expect(used(machine.lease(server, waiter: 6, now: t0)) === b)
        #expect(machine.sessionCount(serverID: server.id) == 3)
    }

    @Test("a further session that fails to start hands its waiters to the busy one")
    func furtherSessionFailure() throws {
        var machine = Self.machine(poolSize: 2)
        let server = Self.server()
        let (_, a, second) = try busySessionAndFurtherStart(&machine, server)
        let failed = machine.sessionFailedToStart(second.id, error: MCPSessionError(.startFailed, "no"), now: t0)
        #expect(failed.resumes.count == 1)
        #expect((try? failed.resumes[0].1.get()) === a)
    }

    @Test("a server that fails to start fails fast until its restart wait is over; the waits double")
    func restartBackoff() throws {
        var machine = Self.machine()
        let server = Self.server()
        var now = t0
        for expected in [Duration.milliseconds(500), .seconds(1), .seconds(2)] {
            let order = try start(machine.lease(server, waiter: 1, now: now))
            let failed = machine.sessionFailedToStart(order.id, error: MCPSessionError(.startFailed, "server 'calc' exited"), now: now)
            #expect(failed.resumes.count == 1)
            #expect(throws: MCPSessionError.self) { try failed.resumes[0].1.get() }
            let fast = try #require(failure(machine.lease(server, waiter: 2, now: now.advanced(by: .milliseconds(1)))))
            #expect(fast.message == "server 'calc' exited")
            #expect(fast.retryAfter == expected - .milliseconds(1))
            now = now.advanced(by: expected)
        }
        _ = try start(machine.lease(server, waiter: 3, now: now))
    }

    @Test("a session that dies is restarted after a wait; one that ran for over a minute starts the count again")
    func unexpectedExit() throws {
        var machine = Self.machine()
        let server = Self.server()
        var order = try start(machine.lease(server, waiter: 1, now: t0))
        _ = machine.sessionStarted(order.id, session: FakeSession("a"), now: t0)
        machine.sessionEnded(order.id, unexpected: true, reason: "killed", now: at(.seconds(1)))
        let error = try #require(failure(machine.lease(server, waiter: 2, now: at(.seconds(1)))))
        #expect(error.message == "server 'calc' is restarting after it exited: killed")
        #expect(error.retryAfter == .milliseconds(500))

        order = try start(machine.lease(server, waiter: 3, now: at(.milliseconds(1500))))
        _ = machine.sessionStarted(order.id, session: FakeSession("b"), now: at(.milliseconds(1500)))
        machine.sessionEnded(order.id, unexpected: true, reason: "killed", now: at(.seconds(2)))
        #expect(failure(machine.lease(server, waiter: 4, now: at(.seconds(2))))?.retryAfter == .seconds(1), "second death in a row")

        order = try start(machine.lease(server, waiter: 5, now: at(.seconds(3))))
        _ = machine.sessionStarted(order.id, session: FakeSession("c"), now: at(.seconds(3)))
        machine.sessionEnded(order.id, unexpected: true, reason: "killed", now: at(.seconds(100)))
        #expect(failure(machine.lease(server, waiter: 6, now: at(.seconds(100))))?.retryAfter == .milliseconds(500), "up for a while: not failing")
    }

    @Test("a live session found closed before its teardown reported: the first death restarts at once, the next waits")
    func closedBeforeTeardown() throws {
        var machine = Self.machine()
        let server = Self.server()
        let order = try start(machine.lease(server, waiter: 1, now: t0))
        let a = FakeSession("a")
        _ = machine.sessionStarted(order.id, session: a, now: t0)
        a.isClosed = true
        a.closedReason = "exited"
        let restart = try start(machine.lease(server, waiter: 2, now: at(.seconds(1))))
        guard case .wait(let actions) = machine.lease(server, waiter: 3, now: at(.seconds(1))) else { return }
        #expect(actions.starts.isEmpty, "joins the restart")
        // The old session's teardown reports late: it must not touch the new start.
        machine.sessionEnded(order.id, unexpected: true, reason: "exited", now: at(.seconds(1)))
        let ready = machine.sessionStarted(restart.id, session: FakeSession("b"), now: at(.seconds(1)))
        #expect(ready.resumes.map(\.0) == [2, 3])
    }

    @Test("a row older than the one the sessions run never replaces them; a newer one does")
    func revisionFencing() throws {
        var machine = Self.machine()
        let current = Self.server(config: #"{"command":"new"}"#, revision: 5)
        let order = try start(machine.lease(current, waiter: 1, now: t0))
        let session = FakeSession("new")
        _ = machine.sessionStarted(order.id, session: session, now: t0)

        let stale = Self.server(config: #"{"command":"old"}"#, revision: 4)
        #expect(used(machine.lease(stale, waiter: 2, now: t0)) === session, "a claim that raced the UPDATE uses the new config")
        #expect(machine.reconcile(only: stale, now: t0).stops.isEmpty)
        #expect(machine.reconcile(active: [stale], readAt: at(.seconds(1)), now: at(.seconds(1))).stopped.isEmpty)

        let newer = Self.server(config: #"{"command":"newer"}"#, revision: 6)
        let stops = machine.reconcile(only: newer, now: t0).stops
        #expect(stops.map(\.id) == [order.id])
        #expect(stops.first?.reason == "server config changed")
        _ = try start(machine.lease(newer, waiter: 3, now: t0))
    }

    @Test("a descriptor not read from the database (revision 0) counts as current, and keeps the known revision")
    func unknownRevision() throws {
        var machine = Self.machine()
        let order = try start(machine.lease(Self.server(config: #"{"command":"a"}"#, revision: 3), waiter: 1, now: t0))
        _ = machine.sessionStarted(order.id, session: FakeSession("a"), now: t0)
        guard case .wait(let actions) = machine.lease(Self.server(config: #"{"command":"b"}"#, revision: 0), waiter: 2, now: t0) else {
            Issue.record("expected the new config to start")
            return
        }
        #expect(actions.stops.map(\.id) == [order.id])
        #expect(machine.servers[Self.server().id]?.newest.revision == 3)
        // A row of revision 2 is still older than what runs now.
        #expect(machine.reconcile(only: Self.server(config: #"{"command":"a"}"#, revision: 2), now: t0).stops.isEmpty)
    }

    @Test("a stale list neither replaces nor resizes the sessions of a newer row")
    func staleListDoesNotResize() throws {
        var machine = Self.machine()
        let newer = Self.server(config: #"{"command":"srv","sessions":4}"#, revision: 6)
        let (_, _, second) = try busySessionAndFurtherStart(&machine, newer)
        _ = machine.sessionStarted(second.id, session: FakeSession("b"), now: t0)
        let older = Self.server(config: #"{"command":"srv","sessions":1}"#, revision: 5)
        let (stopped, actions) = machine.reconcile(active: [older], readAt: at(.seconds(1)), now: at(.seconds(1)))
        #expect(stopped.isEmpty)
        #expect(actions.stops.isEmpty)
        #expect(machine.sessionCount(serverID: newer.id) == 2)
    }

    @Test("a newer row is remembered while the server has no session, so a claim that raced it cannot start the old config")
    func rememberedWithoutSessions() throws {
        var machine = Self.machine()
        let newer = Self.server(config: #"{"command":"new"}"#, revision: 2)
        _ = machine.reconcile(only: newer, now: t0)
        let order = try start(machine.lease(Self.server(config: #"{"command":"old"}"#, revision: 1), waiter: 1, now: t0))
        #expect(order.server.configJSON == newer.configJSON)
    }

    @Test("a deleted server is forgotten: inserted again under its id, its revisions start afresh")
    func deletedIsForgotten() throws {
        var machine = Self.machine()
        let old = Self.server(config: #"{"command":"old"}"#, revision: 9)
        _ = try start(machine.lease(old, waiter: 1, now: t0))
        _ = machine.retire(serverID: old.id, reason: "server deleted", deactivated: true, now: at(.seconds(1)))
        let reinserted = Self.server(config: #"{"command":"new"}"#, revision: 1)
        _ = machine.reconcile(only: reinserted, now: at(.seconds(2)))
        let order = try start(machine.lease(reinserted, waiter: 2, now: at(.seconds(2))))
        #expect(order.server.configJSON == reinserted.configJSON)
    }

    @Test("whoever waits for a further session that a smaller pool stops shares the busy one")
    func shrinkHandsWaitersOver() throws {
        var machine = Self.machine()
        let big = Self.server(config: #"{"command":"srv","sessions":2}"#, revision: 1)
        let (_, a, _) = try busySessionAndFurtherStart(&machine, big)
        let actions = machine.reconcile(only: Self.server(config: #"{"command":"srv","sessions":1}"#, revision: 2), now: t0)
        #expect(actions.resumes.count == 1)
        #expect((try? actions.resumes[0].1.get()) === a)
    }

    @Test("the same config spelled differently is the same config")
    func respelledConfig() throws {
        var machine = Self.machine()
        let order = try start(machine.lease(Self.server(config: #"{"command":"srv"}"#), waiter: 1, now: t0))
        let session = FakeSession("a")
        _ = machine.sessionStarted(order.id, session: session, now: t0)
        #expect(used(machine.lease(Self.server(config: #"{ "command" : "srv" }"#), waiter: 2, now: t0)) === session)
    }

    @Test("a config change replaces the session, and whoever waits for the old start waits for the new one")
    func configChangeReplaces() throws {
        var machine = Self.machine()
        let old = try start(machine.lease(Self.server(config: #"{"command":"a"}"#), waiter: 1, now: t0))
        guard case .wait(let actions) = machine.lease(Self.server(config: #"{"command":"b"}"#), waiter: 2, now: t0) else {
            Issue.record("expected a wait")
            return
        }
        #expect(actions.stops.map(\.id) == [old.id])
        let new = try #require(actions.starts.first)
        #expect(machine.sessionStarted(old.id, session: FakeSession("a"), now: t0).resumes.isEmpty, "the old start reports too late")
        #expect(machine.sessionStarted(new.id, session: FakeSession("b"), now: t0).resumes.map(\.0) == [1, 2])
    }

    @Test("retiring drains ready sessions when asked, and tells whoever waits for a start why it will not come")
    func retire() throws {
        var machine = Self.machine(poolSize: 2)
        let server = Self.server()
        let (first, a, second) = try busySessionAndFurtherStart(&machine, server)

        let actions = machine.retire(serverID: server.id, reason: "its credential changed", draining: true, now: t0)
        #expect(Set(actions.stops.map(\.id)) == [first.id, second.id])
        #expect(actions.stops.first { $0.id == first.id }?.drain === a)
        #expect(actions.stops.first { $0.id == second.id }?.drain == nil)
        #expect(actions.resumes.map(\.0) == [2])
        #expect(throws: MCPSessionError.self) { try actions.resumes[0].1.get() }
        #expect(machine.serverIDs.isEmpty)
    }

    @Test("a deactivated server starts no session until a list read after that says it is active")
    func deactivation() throws {
        var machine = Self.machine()
        let server = Self.server()
        _ = machine.retire(serverID: server.id, reason: "server deactivated", deactivated: true, now: at(.seconds(10)))
        #expect(failure(machine.lease(server, waiter: 1, now: at(.seconds(11))))?.message == "server 'calc' is inactive")
        _ = machine.reconcile(active: [server], readAt: at(.seconds(9)), now: at(.seconds(11)))
        #expect(failure(machine.lease(server, waiter: 2, now: at(.seconds(11)))) != nil, "that list predates the deactivation")
        _ = machine.reconcile(active: [server], readAt: at(.seconds(12)), now: at(.seconds(12)))
        _ = try start(machine.lease(server, waiter: 3, now: at(.seconds(12))))
    }

    @Test("reconciling stops sessions of servers no longer listed, but not sessions started after the list was read")
    func reconcileList() throws {
        var machine = Self.machine()
        let server = Self.server()
        let order = try start(machine.lease(server, waiter: 1, now: at(.seconds(5))))
        #expect(machine.reconcile(active: [], readAt: at(.seconds(4)), now: at(.seconds(6))).stopped.isEmpty)
        let (stopped, actions) = machine.reconcile(active: [], readAt: at(.seconds(6)), now: at(.seconds(6)))
        #expect(stopped == [server.id])
        #expect(actions.stops.map(\.id) == [order.id])
        #expect(actions.stops.first?.reason == "server is no longer active")
    }

    @Test("a smaller \"sessions\" stops the surplus sessions")
    func shrink() throws {
        var machine = Self.machine()
        let big = Self.server(config: #"{"command":"srv","sessions":2}"#, revision: 1)
        let (_, _, second) = try busySessionAndFurtherStart(&machine, big)
        _ = machine.sessionStarted(second.id, session: FakeSession("b"), now: t0)
        // "sessions" is no transport setting: the session keeps running, the surplus stops.
        let small = Self.server(config: #"{"command":"srv","sessions":1}"#, revision: 2)
        let actions = machine.reconcile(only: small, now: t0)
        #expect(actions.stops.map(\.id) == [second.id])
        #expect(actions.stops.first?.reason == "the server's pool is smaller now")
    }

    @Test("idle sessions close after the idle timeout, busy ones stay")
    func idle() throws {
        var machine = Self.machine(idleTimeout: .seconds(60))
        let server = Self.server()
        let order = try start(machine.lease(server, waiter: 1, now: t0))
        let a = FakeSession("a")
        _ = machine.sessionStarted(order.id, session: a, now: t0)
        #expect(machine.closeIdleSessions(now: at(.seconds(59))).stops.isEmpty)
        a.pendingCount = 1
        #expect(machine.closeIdleSessions(now: at(.seconds(61))).stops.isEmpty, "a call in flight")
        a.pendingCount = 0
        #expect(machine.closeIdleSessions(now: at(.seconds(61))).stops.map(\.reason) == ["idle"])
    }

    @Test("shutdown stops every session, fails the waiters and refuses new leases")
    func shutdown() throws {
        var machine = Self.machine()
        let server = Self.server()
        let order = try start(machine.lease(server, waiter: 1, now: t0))
        let actions = machine.shutdown()
        #expect(actions.stops.map(\.id) == [order.id])
        #expect(actions.resumes.map(\.0) == [1])
        #expect(failure(machine.lease(server, waiter: 2, now: t0))?.message == "astra-mcpd is shutting down")
    }

    @Test("a cancelled waiter is answered at once and no longer waits")
    func cancel() throws {
        var machine = Self.machine()
        let server = Self.server()
        let order = try start(machine.lease(server, waiter: 1, now: t0))
        let cancelled = machine.cancelWaiter(1)
        #expect(cancelled.resumes.count == 1)
        #expect((try? cancelled.resumes[0].1.get()) == nil)
        #expect(machine.sessionStarted(order.id, session: FakeSession("a"), now: t0).resumes.isEmpty)
    }

    @Test("a config whose \"sessions\" is out of range fails its lease with a message naming it")
    func badPoolSize() {
        var machine = Self.machine()
        let error = failure(machine.lease(Self.server(config: #"{"command":"srv","sessions":0}"#), waiter: 1, now: t0))
        #expect(error?.code == .misconfigured)
        #expect(error?.message.contains("\"sessions\" must be an integer from 1 to 64") == true)
    }
}
