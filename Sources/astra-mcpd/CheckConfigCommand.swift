import ArgumentParser
import AstraMCP
import Foundation

/// `astra-mcpd check-config`: what an operator runs before a (re)start. Each check prints one
/// line; the exit code names the first that failed.
struct CheckConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Check the configuration, the credential keys, database access and the migrations level.",
        discussion: """
            Exit codes: 0 all good; 2 the configuration is invalid; 3 the credential keys cannot be used; \
            4 the database cannot be reached; 5 the database's migrations are not this binary's.
            """
    )

    @OptionGroup var options: CommonOptions

    enum Failure: Int32 {
        case configuration = 2, keys = 3, database = 4, migrations = 5
    }

    func run() async throws {
        // An invalid file exits 2 here, with its line.
        let configuration = try options.load()
        print("ok    configuration (\(options.config ?? DaemonConfiguration.defaultFilePath + (FileManager.default.fileExists(atPath: DaemonConfiguration.defaultFilePath) ? "" : ", absent: defaults")))")
        var failures: [Failure] = []
        func failed(_ failure: Failure, _ message: String) {
            print("FAIL  \(message)")
            failures.append(failure)
        }

        do {
            let keyring = try CredentialKeyring.load(directory: configuration.credentialKeysDirectory)
            print("ok    credential keys in \(configuration.credentialKeysDirectory) (new values sealed with \(keyring.newestKeyID))")
        } catch {
            failed(.keys, "credential keys: \(error.description)")
        }

        let url: DatabaseURL
        do {
            url = try DatabaseURL(configuration.requireDatabaseURL())
        } catch {
            failed(.configuration, "database URL: \(error.description)")
            return finish(failures)
        }
        let logger = options.logger(configuration)
        let migrations: [Migration]
        do {
            migrations = try Migration.bundled(configuredDirectory: configuration.migrationsDirectory)
        } catch {
            failed(.configuration, "\(error)")
            return finish(failures)
        }
        do {
            try await url.withConnection(logger: logger) { connection in
                print("ok    database \(url.redacted)")
                do {
                    try await Migrator(migrations: migrations, logger: logger).checkUpToDate(connection)
                    print("ok    migrations: the database has all \(migrations.count) of this binary's")
                } catch {
                    failed(.migrations, "migrations: \(error)")
                }
            }
        } catch {
            failed(.database, "database: \(error)")
        }
        finish(failures)
    }

    private func finish(_ failures: [Failure]) {
        guard let first = failures.first else { return }
        Foundation.exit(first.rawValue)
    }
}
