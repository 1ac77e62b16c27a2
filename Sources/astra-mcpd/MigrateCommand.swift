import ArgumentParser
import AstraMCP
import Foundation

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply the schema migrations the database does not have yet.",
        discussion: "Each migration runs in its own transaction and is recorded in astra_mcpd_migrations; running it again is a no-op. It refuses to run when the database has a migration this binary does not know."
    )

    @OptionGroup var options: CommonOptions

    @Option(name: .long, help: "Read migrations from this directory instead of the ones built in.")
    var migrationsDir: String?

    func run() async throws {
        let configuration = try options.load()
        let logger = options.logger(configuration)
        await runReportingErrors {
            let url = try DatabaseURL(configuration.requireDatabaseURL())
            let migrations = try migrationsDir.map { try Migration.load(from: URL(fileURLWithPath: $0)) } ?? Migration.bundled(configuredDirectory: configuration.migrationsDirectory)
            let applied = try await url.withConnection(logger: logger) { connection in
                try await Migrator(migrations: migrations, logger: logger).migrate(connection)
            }
            print(applied.isEmpty ? "schema is up to date" : "applied migrations \(applied.map(String.init).joined(separator: ", "))")
        }
    }
}
