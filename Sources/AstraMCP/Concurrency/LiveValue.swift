import Synchronization

/// A value a configuration reload replaces while the daemon runs: each read takes the current
/// one, so a component reads it where it decides, not once at start.
final class LiveValue<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>

    init(_ value: Value) {
        storage = Mutex(value)
    }

    var value: Value {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}
