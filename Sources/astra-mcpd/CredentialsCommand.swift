import ArgumentParser
import AstraMCP
import Foundation
import Logging
import PostgresNIO

struct CredentialsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "credentials",
        abstract: "Store and rotate the encrypted credentials of remote servers.",
        discussion: """
            Secrets are encrypted with AES-256-GCM under keys read from credential_keys_dir \
            ($CREDENTIALS_DIRECTORY under systemd), never from the database or the config file. \
            A backend without the key stores a secret with SQL alone: \
            INSERT INTO mcp_server_credential_inbox (server_id, credential_type, secret) VALUES (…); \
            the running daemon encrypts it and empties the inbox at once.
            """,
        subcommands: [SetCredential.self, RotateCredentials.self, NewKey.self]
    )
}

/// Runs `body` with a running PostgreSQL pool.
func withDatabase<T: Sendable>(
    _ configuration: DaemonConfiguration, logger: Logger, _ body: @escaping @Sendable (PostgresClient) async throws -> T
) async throws -> T {
    let url = try DatabaseURL(configuration.requireDatabaseURL())
    try await url.withConnection(logger: logger) { _ in }  // a clear error when unreachable
    let database = DatabaseService(client: PostgresClient(configuration: url.clientConfiguration(maximumConnections: 2), backgroundLogger: logger))
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            await database.run()
            return nil
        }
        group.addTask {
            await database.waitUntilRunning()
            return try await body(database.client)
        }
        while let result = try await group.next() {
            if let result {
                group.cancelAll()
                return result
            }
        }
        throw CancellationError()
    }
}

struct SetCredential: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set", abstract: "Store a server's secret, read from standard input (one line; never from an argument).")

    @OptionGroup var options: CommonOptions

    @Argument(help: "The server's name or id.")
    var server: String

    @Argument(help: "The credential type: api_key, oauth_token, basic_auth, custom, oauth_client_secret or oauth_private_key (a PEM, read to the end of input).")
    var type: String

    func run() async throws {
        let configuration = try options.load()
        let logger = options.logger(configuration)
        let types = ["api_key", "oauth_token", "basic_auth", "custom", "oauth_client_secret", "oauth_private_key"]
        guard types.contains(type) else {
            CommonOptions.fail("unknown credential type '\(type)' (\(types.joined(separator: ", ")))", code: 2)
        }
        // A private key is a PEM of several lines: all of the input, not its first line.
        let input = type == "oauth_private_key" ? Self.readAll() : readLine(strippingNewline: true)
        guard let line = input, !line.isEmpty else {
            CommonOptions.fail("no secret on standard input", code: 2)
        }
        let (server, type) = (self.server, self.type)
        await runReportingErrors {
            let keyring = try CredentialKeyring.load(directory: configuration.credentialKeysDirectory)
            try await withDatabase(configuration, logger: logger) { database in
                let store = CredentialStore(database: database, keyring: keyring, logger: logger)
                try await store.store(secret: line, serverID: store.serverID(nameOrID: server), credentialType: type)
            }
            print("stored the \(type) credential of '\(server)' (encrypted with key \(keyring.newestKeyID))")
        }
    }
}

struct RotateCredentials: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate", abstract: "Re-encrypt every stored credential under the newest key.")

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let configuration = try options.load()
        let logger = options.logger(configuration)
        await runReportingErrors {
            let keyring = try CredentialKeyring.load(directory: configuration.credentialKeysDirectory)
            let count = try await withDatabase(configuration, logger: logger) { database in
                try await CredentialStore(database: database, keyring: keyring, logger: logger).rotate()
            }
            print("re-encrypted \(count) credential(s) with key \(keyring.newestKeyID)")
        }
    }
}

struct NewKey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new-key", abstract: "Create a new random key in credential_keys_dir; it becomes the newest.")

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let configuration = try options.load()
        await runReportingErrors {
            let id = try CredentialKeyring.generateKey(in: configuration.credentialKeysDirectory)
            print("created key \(id) in \(configuration.credentialKeysDirectory)")
        }
    }
}

extension SetCredential {
    /// All of standard input, trailing newlines dropped.
    static func readAll() -> String? {
        var lines: [String] = []
        while let line = readLine(strippingNewline: true) { lines.append(line) }
        while lines.last?.isEmpty == true { lines.removeLast() }
        return lines.isEmpty ? nil : lines.joined(separator: "\n")
    }
}
