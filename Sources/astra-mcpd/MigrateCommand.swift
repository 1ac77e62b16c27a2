import ArgumentParser
import AstraMCP
import Foundation

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply the schema migrations the database does not have yet.",
        discussion: """
            Each migration runs in its own transaction and is recorded in astra_mcpd_migrations; running it again is a no-op. It refuses to run when the database has a migration this binary does not know.

            With --roles it then applies migrations/roles/roles.sql, in one transaction: the daemon's and the backend's NOLOGIN group roles (created if missing; grant login roles into them), exactly their privileges, and, where the database has Supabase's schema (auth.uid(), a users table with team_id), the seed's row-level security policies. It needs CREATEROLE and ownership of the tables (or a superuser), and is safe to run again: do so after every upgrade.
            """
    )

    @OptionGroup var options: CommonOptions

    @Option(name: .long, help: "Read migrations from this directory instead of the ones built in.")
    var migrationsDir: String?

    @Flag(name: .long, help: "Also create the database roles and apply their grants and row-level security (roles/roles.sql).")
    var roles = false

    @Option(name: .long, help: "With --roles: the daemon's group role.")
    var daemonRole = RoleScript.defaultDaemonRole

    @Option(name: .long, help: "With --roles: the backends' group role.")
    var backendRole = RoleScript.defaultBackendRole

    func validate() throws {
        if !roles && (daemonRole != RoleScript.defaultDaemonRole || backendRole != RoleScript.defaultBackendRole) {
            throw ValidationError("--daemon-role and --backend-role go with --roles")
        }
        if daemonRole.isEmpty || backendRole.isEmpty || daemonRole == backendRole {
            throw ValidationError("--daemon-role and --backend-role must be two different, non-empty names")
        }
    }

    func run() async throws {
        let configuration = try options.load()
        let logger = options.logger(configuration)
        await runReportingErrors {
            let url = try DatabaseURL(configuration.requireDatabaseURL())
            let directory = try migrationsDir ?? Migration.bundledDirectory(configuredDirectory: configuration.migrationsDirectory)
            let migrations = try Migration.load(from: URL(fileURLWithPath: directory))
            let script = try roles ? RoleScript.load(migrationsDirectory: directory) : nil
            try await url.withConnection(logger: logger) { connection in
                let applied = try await Migrator(migrations: migrations, logger: logger).migrate(connection)
                print(applied.isEmpty ? "schema is up to date" : "applied migrations \(applied.map(String.init).joined(separator: ", "))")
                if let script {
                    let outcome = try await script.apply(connection, daemonRole: daemonRole, backendRole: backendRole, logger: logger)
                    print("roles \(daemonRole) (the daemon) and \(backendRole) (backends): granted; row-level security: \(outcome.rowLevelSecurity)")
                }
            }
        }
    }
}
