import Foundation
import Logging
import PostgresNIO

/// Reads and writes `mcp_server_credentials`, encrypting with the ``CredentialKeyring``.
public struct CredentialStore: Sendable {
    let database: PostgresClient
    let keys: Keys
    let logger: Logger

    enum Keys: Sendable {
        case fixed(CredentialKeyring)
        /// Read from the directory at each use, so a key added for a rotation is known at once
        /// (sessions start rarely; the files are tiny).
        case directory(String)
    }

    /// A store that encrypts with `keyring`.
    public init(database: PostgresClient, keyring: CredentialKeyring, logger: Logger) {
        self.database = database
        self.keys = .fixed(keyring)
        self.logger = logger
    }

    /// A store that reads its keys from `keysDirectory` whenever it needs them.
    public init(database: PostgresClient, keysDirectory: String, logger: Logger) {
        self.database = database
        self.keys = .directory(keysDirectory)
        self.logger = logger
    }

    private func requireKeyring() throws(CredentialError) -> CredentialKeyring {
        switch keys {
        case .fixed(let keyring): return keyring
        case .directory(let directory): return try CredentialKeyring.load(directory: directory)
        }
    }

    /// The secret of a server's credential and how long it stays valid; records that it was used.
    public func secret(serverID: UUID, serverName: String, credentialType: String) async throws -> StoredSecret {
        let keyring = try requireKeyring()
        let rows = try await database.query("""
            UPDATE mcp_server_credentials SET last_used_at = now()
            WHERE server_id = \(serverID) AND credential_type = \(credentialType)
            RETURNING encrypted_value, CASE WHEN isfinite(expires_at) THEN extract(epoch FROM expires_at - now())::float8
                                            WHEN expires_at < now() THEN -1 END
            """, logger: logger).decode((String, Double?).self).collectAll()
        guard let (sealed, remaining) = rows.first else {
            throw CredentialError("server '\(serverName)' needs a '\(credentialType)' credential, and none is stored")
        }
        if let remaining, remaining <= 0 { throw CredentialError("the '\(credentialType)' credential of server '\(serverName)' has expired") }
        return StoredSecret(
            secret: try keyring.open(sealed, serverID: serverID, credentialType: credentialType),
            validFor: remaining.map { .milliseconds(Int64(min($0, 1e12) * 1000)) })
    }

    /// The id of the server (active or not) named `nameOrID` by its name or id.
    /// - Throws: ``CredentialError`` when none or several match.
    public func serverID(nameOrID: String) async throws -> UUID {
        let ids = try await database.query(
            "SELECT id FROM mcp_servers WHERE name = \(nameOrID) OR id::text = \(nameOrID)", logger: logger
        ).decode(UUID.self).collectAll()
        guard let id = ids.first, ids.count == 1 else {
            throw CredentialError(ids.isEmpty ? "no server named '\(nameOrID)'" : "'\(nameOrID)' names several servers: use its id")
        }
        return id
    }

    /// Stores (or replaces) a secret, encrypted.
    public func store(secret: String, serverID: UUID, credentialType: String, expiresAt: Date? = nil) async throws {
        let sealed = try requireKeyring().seal(secret, serverID: serverID, credentialType: credentialType)
        try await database.withConnection { connection in
            try await upsert(sealed, serverID: serverID, credentialType: credentialType, expiresAt: expiresAt, on: connection)
        }
    }

    /// Writes one encrypted credential, replacing the server's previous one of that type.
    private func upsert(_ sealed: String, serverID: UUID, credentialType: String, expiresAt: Date?, on connection: PostgresConnection) async throws {
        _ = try await connection.query("""
            INSERT INTO mcp_server_credentials (server_id, credential_type, encrypted_value, expires_at)
            VALUES (\(serverID), \(credentialType), \(sealed), \(expiresAt))
            ON CONFLICT (server_id, credential_type) DO UPDATE
            SET encrypted_value = EXCLUDED.encrypted_value, expires_at = EXCLUDED.expires_at, created_at = now()
            """, logger: logger).collect()
    }

    /// Moves every secret waiting in the inboxes into `mcp_server_credentials` and
    /// `mcp_team_callbacks`, encrypted, and empties the inboxes, in one transaction. Returns the
    /// servers whose credentials changed.
    public func drainInbox() async throws -> [UUID] {
        try await database.withTransaction(logger: logger) { connection in
            let posted = try await connection.query(
                "DELETE FROM mcp_server_credential_inbox RETURNING server_id, credential_type, secret, expires_at",
                logger: logger
            ).decode((UUID, String, String, Date?).self).collectAll()
            // The newest secret of each team wins.
            let teams = try await connection.query(
                """
                WITH taken AS (DELETE FROM mcp_team_callback_secret_inbox RETURNING id, team_id, secret)
                SELECT DISTINCT ON (team_id) team_id, secret FROM taken ORDER BY team_id, id DESC
                """,
                logger: logger
            ).decode((UUID, String).self).collectAll()
            if posted.isEmpty && teams.isEmpty { return [] }
            // Without keys the transaction rolls back: the posted secrets wait in the inbox.
            let keyring = try requireKeyring()
            for (serverID, type, secret, expiresAt) in posted {
                let sealed = try keyring.seal(secret, serverID: serverID, credentialType: type)
                try await upsert(sealed, serverID: serverID, credentialType: type, expiresAt: expiresAt, on: connection)
            }
            for (teamID, secret) in teams {
                // A secret that cannot sign would fail every delivery of the team: refuse it now.
                guard (try? WebhookSigner(secret: secret)) != nil else {
                    logger.error("refused a callback signing secret from the inbox: it is not whsec_ and base64 of at least 16 bytes", metadata: [
                        "team": "\(teamID)",
                    ])
                    continue
                }
                try await upsertCallbackSecret(keyring.sealCallbackSecret(secret, teamID: teamID), teamID: teamID, on: connection)
            }
            return posted.map(\.0)
        }
    }

    // MARK: Callback signing secrets

    /// Stores a team's callback signing secret (`whsec_…`), encrypted, and its default callback
    /// URL when given.
    public func storeCallbackSecret(_ secret: String, teamID: UUID, defaultURL: String? = nil) async throws {
        _ = try WebhookSigner(secret: secret)  // refuses a malformed secret before it is stored
        let sealed = try requireKeyring().sealCallbackSecret(secret, teamID: teamID)
        try await database.withConnection { connection in
            try await upsertCallbackSecret(sealed, teamID: teamID, on: connection)
            if let defaultURL {
                _ = try await connection.query(
                    "UPDATE mcp_team_callbacks SET default_url = \(defaultURL), updated_at = now() WHERE team_id = \(teamID)", logger: logger
                ).collect()
            }
        }
    }

    /// A team's callback signer, from its sealed secret.
    func callbackSigner(sealed: String, teamID: UUID) throws(CredentialError) -> WebhookSigner {
        try WebhookSigner(secret: requireKeyring().openCallbackSecret(sealed, teamID: teamID))
    }

    private func upsertCallbackSecret(_ sealed: String, teamID: UUID, on connection: PostgresConnection) async throws {
        _ = try await connection.query(
            """
            INSERT INTO mcp_team_callbacks (team_id, encrypted_secret) VALUES (\(teamID), \(sealed))
            ON CONFLICT (team_id) DO UPDATE SET encrypted_secret = EXCLUDED.encrypted_secret, updated_at = now()
            """,
            logger: logger
        ).collect()
    }

    /// Re-encrypts every stored credential and callback signing secret under the newest key, in one transaction.
    /// Returns how many were re-encrypted.
    public func rotate() async throws -> Int {
        let keyring = try requireKeyring()
        return try await database.withTransaction(logger: logger) { connection in
            let rows = try await connection.query(
                "SELECT id, server_id, credential_type, encrypted_value FROM mcp_server_credentials FOR UPDATE", logger: logger
            ).decode((UUID, UUID, String, String).self).collectAll()
            var count = 0
            for (id, serverID, type, sealed) in rows where CredentialKeyring.keyID(of: sealed) != keyring.newestKeyID {
                let secret = try keyring.open(sealed, serverID: serverID, credentialType: type)
                let resealed = try keyring.seal(secret, serverID: serverID, credentialType: type)
                _ = try await connection.query(
                    "UPDATE mcp_server_credentials SET encrypted_value = \(resealed) WHERE id = \(id)", logger: logger
                ).collect()
                count += 1
            }
            let teams = try await connection.query(
                "SELECT team_id, encrypted_secret FROM mcp_team_callbacks WHERE encrypted_secret IS NOT NULL FOR UPDATE", logger: logger
            ).decode((UUID, String).self).collectAll()
            for (teamID, sealed) in teams where CredentialKeyring.keyID(of: sealed) != keyring.newestKeyID {
                let resealed = try keyring.sealCallbackSecret(keyring.openCallbackSecret(sealed, teamID: teamID), teamID: teamID)
                _ = try await connection.query(
                    "UPDATE mcp_team_callbacks SET encrypted_secret = \(resealed) WHERE team_id = \(teamID)", logger: logger
                ).collect()
                count += 1
            }
            return count
        }
    }
}

/// A decrypted credential.
public struct StoredSecret: Sendable {
    public var secret: String
    /// How long until `expires_at`, from when it was read; nil if it does not expire.
    public var validFor: Duration?

    public init(secret: String, validFor: Duration? = nil) {
        self.secret = secret
        self.validFor = validFor
    }
}
