import CSystemd
import Foundation
import Logging

/// Logs to the systemd journal natively, with the level as PRIORITY and every metadata key as
/// a field of its own (`SERVER=…`, `EXECUTION=…`), so `journalctl SERVER=github` filters.
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
            let name = key.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" }
            fields.append("\(String(name))=\(value)")
        }
        // Each field is copied into C memory that lives until sd_journal_sendv returns.
        let copies = fields.map { field -> (UnsafeMutablePointer<CChar>?, Int) in (strdup(field), field.utf8.count) }
        defer { for (pointer, _) in copies { free(pointer) } }
        var vectors = copies.map { iovec(iov_base: UnsafeMutableRawPointer($0.0), iov_len: $0.1) }
        _ = sd_journal_sendv(&vectors, Int32(vectors.count))
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
