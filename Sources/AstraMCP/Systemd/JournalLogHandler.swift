import CSystemd
import Foundation
import Logging

/// Logs to the systemd journal natively (libsystemd's `sd_journal_sendv`), with the level as
/// PRIORITY and every metadata key as a field of its own, so `journalctl -u astra-mcpd
/// SERVER_NAME=github` filters. The keys the engine uses for what a record is about get the
/// journal names ops search by (``fieldNames``); any other key is upper-cased.
public struct JournalLogHandler: LogHandler {
    /// Reads and sets the shared level: a reload changes every handler's at once.
    public var logLevel: Logger.Level {
        get { levelSwitch.level }
        set { levelSwitch.level = newValue }
    }
    let levelSwitch: LogLevelSwitch
    public var metadata: Logger.Metadata = [:]
    let label: String

    public init(label: String, level: LogLevelSwitch = LogLevelSwitch(.info)) {
        self.label = label
        levelSwitch = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        var fields = [
            "MESSAGE=\(event.message)",
            "PRIORITY=\(Self.priority(event.level))",
            "SYSLOG_IDENTIFIER=astra-mcpd",
            "ASTRA_LOGGER=\(label)",
        ]
        for (key, value) in merged {
            fields.append("\(Self.fieldName(key))=\(value)")
        }
        // Each field is copied into C memory that lives until sd_journal_sendv returns.
        let copies = fields.map { field -> (UnsafeMutablePointer<CChar>?, Int) in (strdup(field), field.utf8.count) }
        defer { for (pointer, _) in copies { free(pointer) } }
        var vectors = copies.map { iovec(iov_base: UnsafeMutableRawPointer($0.0), iov_len: $0.1) }
        _ = sd_journal_sendv(&vectors, Int32(vectors.count))
    }

    /// The journal's names for the metadata keys that say what a record is about.
    static let fieldNames = [
        "execution": "EXECUTION_ID", "server": "SERVER_NAME", "server_id": "SERVER_ID", "tool": "TOOL", "team": "TEAM_ID",
        "status": "STATUS", "duration_ms": "DURATION_MS", "attempt": "ATTEMPT",
    ]

    /// A journal field name for `key`: upper case letters, digits and `_`, not starting with
    /// `_` (the journal's own trusted fields) or a digit, at most 64 characters.
    static func fieldName(_ key: String) -> String {
        if let name = fieldNames[key] { return name }
        var name = String(key.uppercased().map { ($0.isASCII && ($0.isLetter || $0.isNumber)) ? $0 : "_" })
        if name.first.map({ $0 == "_" || $0.isNumber }) ?? true { name = "F" + name }
        return String(name.prefix(64))
    }

    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }
}
