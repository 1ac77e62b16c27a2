import Foundation
import Synchronization

/// The executions this worker runs, for delivering the backend's cancel requests
/// (`cancel_requested_at`): one on its way to a session is stopped before it is sent; one whose
/// call is in flight is cancelled at its server (`notifications/cancelled` with the request id,
/// and a reply arriving later is ignored).
final class CallCancellations: Sendable {
    private enum Entry {
        /// Claimed, not yet handed to a session.
        case starting(cancelled: Bool)
        /// The call is in flight; this stops it.
        case calling(@Sendable () -> Void)
        /// The call was cancelled at its server.
        case cancelled
    }

    static let reason = "cancelled at the backend's request"
    private let entries = Mutex<[UUID: Entry]>([:])

    /// Starts tracking an execution that was just claimed.
    func starting(_ execution: UUID) {
        entries.withLock { $0[execution] = .starting(cancelled: false) }
    }

    /// The execution's call is about to be sent on `connection`; a cancel is delivered with
    /// `notifications/cancelled`. Returns false when a cancel came first: the call must not be sent.
    func calling(_ execution: UUID, on connection: MCPConnection) -> Bool {
        let token = execution.uuidString.lowercased()
        return calling(execution) { connection.cancel(progressToken: token, reason: Self.reason) }
    }

    /// The execution's call is about to start; `stop` delivers a cancel (a task's is
    /// `tasks/cancel`). Returns false when a cancel came first.
    func calling(_ execution: UUID, stop: @escaping @Sendable () -> Void) -> Bool {
        entries.withLock { entries in
            if case .starting(cancelled: false) = entries[execution] {
                entries[execution] = .calling(stop)
                return true
            }
            return false
        }
    }

    /// Whether the backend asked to cancel the execution while this worker ran it.
    func wasCancelled(_ execution: UUID) -> Bool {
        entries.withLock { entries in
            switch entries[execution] {
            case .starting(cancelled: true), .cancelled: true
            default: false
            }
        }
    }

    /// The execution ended: stop tracking it.
    func finished(_ execution: UUID) {
        entries.withLock { _ = $0.removeValue(forKey: execution) }
    }

    /// Delivers a cancel request. Returns false when this worker does not run the execution
    /// (it may be pending, or another daemon's).
    @discardableResult
    func cancel(_ execution: UUID) -> Bool {
        let (tracked, stop): (Bool, (@Sendable () -> Void)?) = entries.withLock { entries in
            switch entries[execution] {
            case .starting:
                entries[execution] = .starting(cancelled: true)
                return (true, nil)
            case .calling(let stop):
                entries[execution] = .cancelled
                return (true, stop)
            case .cancelled:
                return (true, nil)
            case nil:
                return (false, nil)
            }
        }
        // Outside the lock: stopping resumes the call, which may come back here.
        stop?()
        return tracked
    }
}
