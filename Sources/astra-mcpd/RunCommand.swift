import ArgumentParser
import AstraMCP

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the daemon: claim pending executions and run them until SIGTERM or SIGINT.",
        discussion: "Logs one line per state change to stderr (or the journal under systemd). SIGHUP (systemctl reload) re-reads the configuration and applies its live settings. On SIGTERM/SIGINT it stops claiming, lets in-flight calls finish within shutdown_grace_seconds, hands the rest back to the queue and exits 0."
    )

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let configuration = try options.load()
        let logLevel = LogLevelSwitch(configuration.logLevel)
        let logger = options.logger(configuration, levelSwitch: logLevel)
        let options = self.options
        await runReportingErrors {
            try await AstraDaemon(
                configuration: configuration, logger: logger, logLevel: logLevel,
                reloadConfiguration: { try options.loadOrThrow() }
            ).run()
        }
    }
}
