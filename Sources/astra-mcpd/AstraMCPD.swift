import ArgumentParser
import AstraMCP
import Foundation
import Logging

/// `astra-mcpd`: the backend MCP client daemon and its operator commands.
@main
struct AstraMCPD: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "astra-mcpd",
        abstract: "Runs MCP tool executions queued in PostgreSQL and writes their results back.",
        discussion: "Exit codes: 0 ok, 1 runtime failure, 2 bad usage or configuration.",
        subcommands: [RunCommand.self, StatusCommand.self, CheckConfigCommand.self, MigrateCommand.self, SyncCommand.self, CredentialsCommand.self, CallbacksCommand.self, CallCommand.self, DemoCommand.self, BenchCommand.self]
    )
}

/// Options every command takes.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "Configuration file (default: \(DaemonConfiguration.defaultFilePath) if present).")
    var config: String?

    @Option(
        name: .long,
        help: """
            PostgreSQL URL; overrides ASTRA_MCPD_DATABASE_URL and the file. A password in it is visible to every local \
            user in /proc/<pid>/cmdline: prefer database_url_file in the configuration, or LoadCredential=database-url:… \
            under systemd.
            """)
    var databaseURL: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String?

    /// The configuration from file, environment and flags; exits 2 with one line on a problem.
    func load() throws -> DaemonConfiguration {
        do {
            return try loadOrThrow()
        } catch {
            Self.fail(error.description, code: 2)
        }
    }

    /// The configuration from file, environment and flags (again, for a reload).
    func loadOrThrow() throws(ConfigurationError) -> DaemonConfiguration {
        var configuration = try DaemonConfiguration.load(path: config, environment: ProcessInfo.processInfo.environment)
        if let databaseURL { configuration.databaseURL = databaseURL }
        if let logLevel {
            guard let level = Logger.Level(rawValue: logLevel) else { throw ConfigurationError("--log-level: unknown level '\(logLevel)'") }
            configuration.logLevel = level
        }
        return configuration
    }

    /// Sets up logging as configured and returns the daemon's logger. Every handler reads its
    /// level from `levelSwitch`, which a reload sets.
    func logger(_ configuration: DaemonConfiguration, levelSwitch: LogLevelSwitch? = nil) -> Logger {
        let level = levelSwitch ?? LogLevelSwitch(configuration.logLevel)
        level.level = configuration.logLevel
        let useJournal = configuration.logTarget == .journal || (configuration.logTarget == .auto && Systemd.stderrIsJournal)
        LoggingSystem.bootstrap { label in
            useJournal ? JournalLogHandler(label: label, level: level) as any LogHandler : StderrLogHandler(label: label, level: level)
        }
        return Logger(label: "astra-mcpd")
    }

    /// Prints `astra-mcpd: message` to stderr and exits.
    static func fail(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data("astra-mcpd: \(message)\n".utf8))
        Foundation.exit(code)
    }
}

/// Runs `body`, turning errors into one line on stderr and the documented exit codes.
func runReportingErrors(_ body: () async throws -> Void) async {
    do {
        try await body()
    } catch let error as ConfigurationError {
        CommonOptions.fail(error.description, code: 2)
    } catch {
        CommonOptions.fail("\(error)", code: 1)
    }
}
