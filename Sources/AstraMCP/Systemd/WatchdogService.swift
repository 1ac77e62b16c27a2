import ServiceLifecycle

/// Pings systemd's watchdog at half its interval while the daemon runs; does nothing when the
/// unit has no `WatchdogSec=`.
public struct WatchdogService: Service {
    public init() {}

    public func run() async throws {
        guard let interval = Systemd.watchdogInterval else {
            try? await gracefulShutdown()
            return
        }
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            Systemd.notify("WATCHDOG=1")
            try? await Task.sleep(for: interval / 2)
        }
    }
}
