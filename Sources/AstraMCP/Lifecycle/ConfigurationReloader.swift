import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// `systemctl reload`: on SIGHUP, reads the configuration again (file, environment, command
/// line, as at start) and applies its live settings (see ``DaemonConfiguration/settings``)
/// without dropping an execution. The reload is wrapped in `RELOADING=1` with
/// `MONOTONIC_USEC`, then `READY=1`, as `Type=notify-reload` expects.
///
/// A file that does not load is refused with one log line and the running configuration stays
/// in force. Changed settings that need a restart are named in the log, and are not applied,
/// so the running configuration never holds a mix the daemon was not started with.
public struct ConfigurationReloader: Service {
    /// Reads the configuration as at start.
    let load: @Sendable () throws -> DaemonConfiguration
    /// Hands the new configuration to the components: the running one with the new live settings.
    let apply: @Sendable (_ new: DaemonConfiguration, _ old: DaemonConfiguration) async -> Void
    let running: LiveValue<DaemonConfiguration>
    /// Signalled once SIGHUP is trapped: before that, a reload would kill the daemon, so
    /// `READY=1` waits for it.
    let trapping: AsyncEvent
    let logger: Logger

    init(
        running: DaemonConfiguration, load: @escaping @Sendable () throws -> DaemonConfiguration,
        apply: @escaping @Sendable (DaemonConfiguration, DaemonConfiguration) async -> Void, trapping: AsyncEvent, logger: Logger
    ) {
        self.running = LiveValue(running)
        self.load = load
        self.apply = apply
        self.trapping = trapping
        self.logger = logger
    }

    public func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        trapping.signal()
        try? await cancelWhenGracefulShutdown {
            for await _ in hangups { await reload() }
        }
    }

    /// One reload, from `RELOADING=1` to `READY=1`.
    func reload() async {
        Systemd.notify("RELOADING=1\nMONOTONIC_USEC=\(Systemd.monotonicMicroseconds)\nSTATUS=reloading the configuration")
        defer { Systemd.notify("READY=1\nSTATUS=configuration reloaded") }
        let loaded: DaemonConfiguration
        do {
            loaded = try load()
        } catch {
            logger.error(
                "configuration reload refused; the running configuration stays in force",
                metadata: ["error": "\((error as? ConfigurationError)?.description ?? "\(error)")"])
            return
        }
        let old = running.value
        let plan = ReloadPlan(running: old, loaded: loaded)
        if !plan.changed.isEmpty {
            await apply(plan.applied, old)
            running.value = plan.applied
        }
        // Key files are read when used, so a rotation is live without this; the reload says
        // whether the directory is usable now.
        var metadata: Logger.Metadata = ["changed": "\(plan.changed.isEmpty ? "nothing" : plan.changed.joined(separator: ","))"]
        switch Result(catching: { try CredentialKeyring.load(directory: plan.applied.credentialKeysDirectory) }) {
        case .success(let keyring): metadata["newest_key"] = "\(keyring.newestKeyID)"
        case .failure(let error): metadata["keys"] = "\(error)"
        }
        logger.notice("configuration reloaded", metadata: metadata)
        if !plan.needRestart.isEmpty {
            logger.warning(
                "some changed settings take effect only at the next restart",
                metadata: ["needs_restart": "\(plan.needRestart.joined(separator: ","))"])
        }
    }
}
