import Foundation
import Logging

/// One line per event on stderr: `time level message key=value …`.
public struct StderrLogHandler: LogHandler {
    /// Reads and sets the shared level: a reload changes every handler's at once.
    public var logLevel: Logger.Level {
        get { levelSwitch.level }
        set { levelSwitch.level = newValue }
    }
    let levelSwitch: LogLevelSwitch
    public var metadata: Logger.Metadata = [:]
    /// Omit the timestamp (the journal adds its own).
    let timestamps: Bool

    public init(label: String, timestamps: Bool = true, level: LogLevelSwitch = LogLevelSwitch(.info)) {
        self.timestamps = timestamps
        levelSwitch = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = timestamps ? Date().formatted(.iso8601) + " " : ""
        line += "\(event.level) \(event.message)"
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        for key in merged.keys.sorted() {
            let value = "\(merged[key]!)"
            line += value.contains(" ") || value.isEmpty ? " \(key)=\"\(value)\"" : " \(key)=\(value)"
        }
        line += "\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}
