import CSystemd
import Foundation

/// The daemon's side of systemd's notify protocol (`Type=notify`): READY, STOPPING, STATUS and
/// the watchdog. Every call is a no-op when not started by systemd.
public enum Systemd {
    /// Sends a notify message such as `READY=1`.
    public static func notify(_ state: String) {
        _ = sd_notify(0, state)
    }

    /// The watchdog interval systemd expects pings at, if the unit has `WatchdogSec=`.
    public static var watchdogInterval: Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(microseconds))
    }

    /// CLOCK_MONOTONIC in microseconds, as `RELOADING=1` wants it in `MONOTONIC_USEC`.
    public static var monotonicMicroseconds: UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
    }

    /// Whether stderr is connected to the journal (systemd sets `JOURNAL_STREAM`).
    public static var stderrIsJournal: Bool {
        ProcessInfo.processInfo.environment["JOURNAL_STREAM"] != nil
    }
}
