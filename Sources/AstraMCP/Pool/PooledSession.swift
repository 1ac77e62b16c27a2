import Foundation

/// What the pool's state machine reads from a live session to choose one: how busy it is and
/// whether it is still open. ``SessionPool/Session`` is one; tests use plain values.
protocol PooledSession {
    /// Requests in flight.
    var pendingCount: Int { get }
    /// Whether the connection has closed (its teardown may still be running).
    var isClosed: Bool { get }
    /// Why it closed, when it has.
    var closedReason: String? { get }
}

/// One session of a server's pool: its slot (slot 0 is a server's first session) and which
/// start of that slot it is, so that news about an old session never touches its successor.
struct PoolSessionID: Hashable, Sendable, CustomStringConvertible {
    var serverID: UUID
    var slot: Int
    var generation: Int

    var description: String { "\(serverID)#\(slot).\(generation)" }
}
