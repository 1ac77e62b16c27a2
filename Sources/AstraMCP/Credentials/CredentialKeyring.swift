import Crypto
import Foundation

/// The keys that encrypt `mcp_server_credentials.encrypted_value`, loaded from files only the
/// daemon can read — for systemd, `LoadCredential=` puts them in `$CREDENTIALS_DIRECTORY`. They
/// are never in the database or the configuration file.
///
/// Each key is a file `<key-id>.key` holding 32 random bytes, raw or base64. The newest key
/// (the greatest id) encrypts; any key decrypts, so keys rotate: add a new file, run
/// `astra-mcpd credentials rotate`, then retire the old file.
///
/// A sealed value is `v1:<key-id>:<base64 of nonce, ciphertext and tag>`, AES-256-GCM, with the
/// server's id and the credential type as associated data: a value copied to another row does
/// not decrypt.
public struct CredentialKeyring: Sendable {
    let keys: [String: SymmetricKey]
    /// The id of the key new values are sealed with.
    public let newestKeyID: String

    /// Loads every `*.key` file of `directory`.
    public static func load(directory: String) throws(CredentialError) -> CredentialKeyring {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".key") }
        var keys: [String: SymmetricKey] = [:]
        for file in files {
            let id = String(file.dropLast(4))
            guard !id.isEmpty, !id.contains(":"), let contents = FileManager.default.contents(atPath: directory + "/" + file) else {
                throw CredentialError("cannot read key file \(directory)/\(file)")
            }
            let text = String(decoding: contents, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            let bytes = contents.count == 32 ? contents : (Data(base64Encoded: text) ?? Data())
            guard bytes.count == 32 else {
                throw CredentialError("key file \(directory)/\(file) must hold 32 bytes (raw or base64)")
            }
            keys[id] = SymmetricKey(data: bytes)
        }
        guard let newest = keys.keys.max() else {
            throw CredentialError("no credential keys in \(directory): create one with 'astra-mcpd credentials new-key'")
        }
        return CredentialKeyring(keys: keys, newestKeyID: newest)
    }

    /// Writes a new random key file and returns its id (the current time, so it sorts newest).
    public static func generateKey(in directory: String) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let id = "k" + String(Int(Date().timeIntervalSince1970 * 1000))
        let key = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        let path = directory + "/" + id + ".key"
        guard FileManager.default.createFile(atPath: path, contents: Data(key.base64EncodedString().utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CredentialError("cannot write \(path)")
        }
        return id
    }

    /// Encrypts a secret for one server's credential of one type.
    public func seal(_ secret: String, serverID: UUID, credentialType: String) throws(CredentialError) -> String {
        try seal(secret, context: Self.context(serverID, credentialType))
    }

    /// Decrypts a sealed value. The error never contains the value or the secret.
    public func open(_ sealed: String, serverID: UUID, credentialType: String) throws(CredentialError) -> String {
        try open(sealed, context: Self.context(serverID, credentialType))
    }

    /// Encrypts a team's callback signing secret.
    public func sealCallbackSecret(_ secret: String, teamID: UUID) throws(CredentialError) -> String {
        try seal(secret, context: Self.callbackContext(teamID))
    }

    /// Decrypts a team's callback signing secret.
    public func openCallbackSecret(_ sealed: String, teamID: UUID) throws(CredentialError) -> String {
        try open(sealed, context: Self.callbackContext(teamID))
    }

    /// A sealed value is bound to what it belongs to (the authenticated data): copied to another
    /// server, credential type or team, it does not decrypt.
    private func seal(_ secret: String, context: Data) throws(CredentialError) -> String {
        guard let key = keys[newestKeyID] else { throw CredentialError("credential key \(newestKeyID) is missing") }
        do {
            let box = try AES.GCM.seal(Data(secret.utf8), using: key, authenticating: context)
            guard let combined = box.combined else { throw CredentialError("encryption failed") }
            return "v1:\(newestKeyID):\(combined.base64EncodedString())"
        } catch let error as CredentialError {
            throw error
        } catch {
            throw CredentialError("encryption failed")
        }
    }

    private func open(_ sealed: String, context: Data) throws(CredentialError) -> String {
        let parts = sealed.split(separator: ":", maxSplits: 2).map(String.init)
        guard parts.count == 3, parts[0] == "v1", let combined = Data(base64Encoded: parts[2]) else {
            throw CredentialError("the stored credential is not in a format astra-mcpd knows")
        }
        guard let key = keys[parts[1]] else {
            throw CredentialError("the stored credential was encrypted with key '\(parts[1])', which this daemon does not have")
        }
        do {
            let box = try AES.GCM.SealedBox(combined: combined)
            let plaintext = try AES.GCM.open(box, using: key, authenticating: context)
            return String(decoding: plaintext, as: UTF8.self)
        } catch {
            throw CredentialError("the stored credential does not decrypt (wrong key, or copied from another server)")
        }
    }

    /// The id of the key a sealed value was made with.
    public static func keyID(of sealed: String) -> String? {
        let parts = sealed.split(separator: ":", maxSplits: 2)
        return parts.count == 3 ? String(parts[1]) : nil
    }

    private static func callbackContext(_ teamID: UUID) -> Data {
        Data("astra-mcpd callback secret \(teamID.uuidString.lowercased())".utf8)
    }

    private static func context(_ serverID: UUID, _ credentialType: String) -> Data {
        Data("astra-mcpd credential \(serverID.uuidString.lowercased()) \(credentialType)".utf8)
    }
}

/// A credential could not be stored or read; the message never holds the secret.
public struct CredentialError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
