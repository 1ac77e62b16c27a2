import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The keys that encrypt `mcp_server_credentials.encrypted_value`, loaded from files only the
/// daemon can read — for systemd, `LoadCredential=` puts them in `$CREDENTIALS_DIRECTORY`. They
/// are never in the database or the configuration file.
///
/// Each key is a file `<key-id>.key` holding 32 random bytes, raw or base64, after an optional
/// header line `# astra-mcpd credential key, created <ISO 8601 time>` (`credentials new-key`
/// writes one). The newest key encrypts: the latest created, by the header, or else by the file's
/// modification time (the id breaks ties), never by the ids' string order, which an operator's
/// own names need not follow. Any key decrypts, so keys rotate: add a new file, run
/// `astra-mcpd credentials rotate`, then retire the old file.
///
/// A key file must belong to the daemon's user (or root) and be neither readable nor writable by
/// others, nor writable by its group: the daemon refuses one that is, naming it. (Under systemd,
/// `LoadCredential=` files are 0400, or root's with an ACL for the service's user.)
///
/// A sealed value is `v1:<key-id>:<base64 of nonce, ciphertext and tag>`, AES-256-GCM, with the
/// server's id and the credential type as associated data: a value copied to another row does
/// not decrypt.
public struct CredentialKeyring: Sendable {
    let keys: [String: SymmetricKey]
    /// The id of the key new values are sealed with.
    public let newestKeyID: String

    static let header = "# astra-mcpd credential key, created "
    static let timeFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// Loads every `*.key` file of `directory`.
    public static func load(directory: String) throws(CredentialError) -> CredentialKeyring {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".key") }
        var keys: [String: SymmetricKey] = [:]
        var created: [String: Date] = [:]
        for file in files {
            let id = String(file.dropLast(4))
            let path = directory + "/" + file
            guard !id.isEmpty, !id.contains(":"), let contents = FileManager.default.contents(atPath: path) else {
                throw CredentialError("cannot read key file \(path)")
            }
            let key = try readKey(path: path, contents: contents)
            keys[id] = key.key
            created[id] = key.created
        }
        guard let newest = keys.keys.max(by: { (created[$0]!, $0) < (created[$1]!, $1) }) else {
            throw CredentialError("no credential keys in \(directory): create one with 'astra-mcpd credentials new-key'")
        }
        return CredentialKeyring(keys: keys, newestKeyID: newest)
    }

    /// One key file's key and creation time, once its owner and mode pass.
    private static func readKey(path: String, contents: Data) throws(CredentialError) -> (key: SymmetricKey, created: Date) {
        var info = stat()
        guard stat(path, &info) == 0 else { throw CredentialError("cannot stat key file \(path)") }
        let owner = info.st_uid
        guard owner == geteuid() || owner == 0 else {
            throw CredentialError("key file \(path) belongs to uid \(owner), not to the daemon's user (uid \(geteuid())) or root; refusing it")
        }
        let mode = info.st_mode & 0o777
        guard mode & 0o027 == 0 else {
            throw CredentialError(
                "key file \(path) is open to others (mode \(String(mode, radix: 8))); refusing it: chmod 600 \(path)")
        }
        var lines = String(decoding: contents, as: UTF8.self).split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        var created = Date(timeIntervalSince1970: TimeInterval(info.st_mtim.tv_sec) + TimeInterval(info.st_mtim.tv_nsec) / 1e9)
        if let first = lines.first, first.hasPrefix(header) {
            guard let date = try? timeFormat.parse(String(first.dropFirst(header.count))) else {
                throw CredentialError("key file \(path): cannot read the creation time in its header")
            }
            created = date
            lines.removeFirst()
        }
        let bytes = contents.count == 32 ? contents : (lines.count == 1 ? Data(base64Encoded: lines[0]) ?? Data() : Data())
        guard bytes.count == 32 else {
            throw CredentialError("key file \(path) must hold 32 bytes (raw or base64)")
        }
        return (SymmetricKey(data: bytes), created)
    }

    /// Writes a new random key file, created after every key already there, and returns its id.
    public static func generateKey(in directory: String) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var created = Date()
        // Clocks step back; the new key must still be the newest.
        if let newest = try? newestCreation(in: directory), newest >= created { created = newest.addingTimeInterval(0.001) }
        var id = "k" + String(Int(created.timeIntervalSince1970 * 1000))
        var suffix = 1
        while FileManager.default.fileExists(atPath: directory + "/" + id + ".key") {
            suffix += 1
            id = "k" + String(Int(created.timeIntervalSince1970 * 1000)) + "-\(suffix)"
        }
        let key = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        let path = directory + "/" + id + ".key"
        let text = header + timeFormat.format(created) + "\n" + key.base64EncodedString() + "\n"
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CredentialError("cannot write \(path)")
        }
        return id
    }

    /// The creation time of the newest key in `directory`.
    private static func newestCreation(in directory: String) throws -> Date? {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".key") }
        return try files.compactMap { file -> Date? in
            let path = directory + "/" + file
            guard let contents = FileManager.default.contents(atPath: path) else { return nil }
            return try readKey(path: path, contents: contents).created
        }.max()
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
