import ArgumentParser
import AstraMCP
import Foundation

struct CallbacksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "callbacks",
        abstract: "Set a team's completion-callback signing secret and default URL.",
        discussion: """
            Callbacks are signed per Standard Webhooks (webhook-id, webhook-timestamp, \
            webhook-signature) with the team's whsec_ secret, stored encrypted like server \
            credentials. A backend without the key sets one with SQL alone: \
            INSERT INTO mcp_team_callback_secret_inbox (team_id, secret) VALUES (…).
            """,
        subcommands: [SetCallbackSecret.self]
    )
}

struct SetCallbackSecret: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-secret",
        abstract: "Store a team's signing secret (a new random one, printed once; or --stdin) and optionally its default callback URL.")

    @OptionGroup var options: CommonOptions

    @Option(help: "The team's id.")
    var team: String

    @Option(help: "The team's default callback URL, for executions inserted without a callback_url.")
    var url: String?

    @Flag(help: "Read the whsec_ secret from standard input (one line) instead of generating one.")
    var stdin = false

    func run() async throws {
        let configuration = try options.load()
        let logger = options.logger(configuration)
        guard let teamID = UUID(uuidString: team) else { CommonOptions.fail("--team must be a UUID, got '\(team)'", code: 2) }
        if let url, !(url.hasPrefix("https://") || url.hasPrefix("http://")) {
            CommonOptions.fail("--url must be an http:// or https:// URL", code: 2)
        }
        let secret: String
        if stdin {
            guard let line = readLine(strippingNewline: true), !line.isEmpty else { CommonOptions.fail("no secret on standard input", code: 2) }
            secret = line
        } else {
            secret = WebhookSigner.generateSecret()
        }
        let url = self.url
        let generated = !stdin
        await runReportingErrors {
            let keyring = try CredentialKeyring.load(directory: configuration.credentialKeysDirectory)
            try await withDatabase(configuration, logger: logger) { database in
                let store = CredentialStore(database: database, keyring: keyring, logger: logger)
                try await store.storeCallbackSecret(secret, teamID: teamID, defaultURL: url)
            }
            if generated { print(secret) }
            FileHandle.standardError.write(Data("stored the callback signing secret of team \(teamID) (encrypted with key \(keyring.newestKeyID))\n".utf8))
        }
    }
}
