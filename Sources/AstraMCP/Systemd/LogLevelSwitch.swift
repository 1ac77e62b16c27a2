import Logging
import Synchronization

/// The daemon's log level, shared by every log handler, so a reload changes it for every
/// logger at once (handlers are created once per logger label and keep no copy of their own).
public final class LogLevelSwitch: Sendable {
    private let rawLevel: Atomic<UInt8>

    public init(_ level: Logger.Level) {
        rawLevel = Atomic(Self.index(level))
    }

    /// The lowest level logged now.
    public var level: Logger.Level {
        get { Logger.Level.allCases[Int(rawLevel.load(ordering: .relaxed))] }
        set { rawLevel.store(Self.index(newValue), ordering: .relaxed) }
    }

    private static func index(_ level: Logger.Level) -> UInt8 {
        UInt8(Logger.Level.allCases.firstIndex(of: level)!)
    }
}
