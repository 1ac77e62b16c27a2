import Logging
import ServiceLifecycle

/// Pings systemd's watchdog (`WatchdogSec=`) every half interval while the engine makes
/// progress (see ``ProgressBeacon``): a loop stuck in one step for longer than `stepLimit` (the
/// longest a legitimate step takes: a statement's answer is given up after `statement_timeout`
/// + 15 s) or the watchdog interval stops the pings, and systemd restarts the daemon. Without a watchdog it does nothing. It runs until
/// graceful shutdown reaches it, at once (it is shut down after the worker has drained).
public struct WatchdogService: Service {
    let beacon: ProgressBeacon
    let stepLimit: Duration
    let logger: Logger

    public init(beacon: ProgressBeacon, stepLimit: Duration, logger: Logger) {
        self.beacon = beacon
        self.stepLimit = stepLimit
        self.logger = logger
    }

    public func run() async throws {
        guard let interval = Systemd.watchdogInterval else {
            try? await gracefulShutdown()
            return
        }
        try? await cancelWhenGracefulShutdown {
            var silent = false
            while !Task.isCancelled {
                let stuck = beacon.stuck(longerThan: max(interval, stepLimit))
                if stuck.isEmpty {
                    Systemd.notify("WATCHDOG=1")
                    if silent { logger.notice("the engine makes progress again; watchdog pings resumed") }
                    silent = false
                } else if !silent {
                    silent = true
                    logger.critical(
                        "the engine is stuck; no longer pinging the watchdog, so systemd restarts the daemon",
                        metadata: ["stuck": "\(stuck.map { "\($0.loop) for \($0.for)" }.joined(separator: ", "))"])
                }
                try await Task.sleep(for: interval / 2)
            }
        }
    }
}
