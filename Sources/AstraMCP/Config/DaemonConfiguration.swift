import Foundation
import Logging

/// Everything the daemon can be configured with. Every option has a documented default; the
/// file format and the environment overrides are in `DaemonConfiguration+File.swift`.
public struct DaemonConfiguration: Sendable {
    /// Where `mcp_*` tables live, as a `postgres://` URL. No default: required by every command
    /// that touches the database.
    public var databaseURL: String?
    /// How this daemon names itself in leases. Defaults to `<hostname>:<pid>`.
    public var workerID: String = DaemonConfiguration.defaultWorkerID()
    /// The most tool calls in flight at once. Defaults to `64`.
    public var maxConcurrency: Int = 64
    /// The most executions claimed in one round trip. Defaults to `64`.
    public var claimBatchSize: Int = 64
    /// The most outcomes written in one round trip. Defaults to `200` (one notification lists
    /// every id of a batch, and a notification holds at most 8000 bytes).
    public var completionBatchSize: Int = 200
    /// The backstop: how often the queue is checked without a notification. Defaults to `5` s.
    public var pollInterval: Duration = .seconds(5)
    /// How long a claim is held before it counts as abandoned. Defaults to `300` s.
    public var leaseDuration: Duration = .seconds(300)
    /// How long in-flight calls may finish after SIGTERM before they are handed back to the
    /// queue. Defaults to `30` s.
    public var shutdownGrace: Duration = .seconds(30)
    /// How long a server may take to start and answer `initialize`. Defaults to `30` s.
    public var initializeTimeout: Duration = .seconds(30)
    /// How long a stdio child may take to exit after its stdin closes, before SIGTERM and then
    /// SIGKILL go to its process group. Defaults to `2` s.
    public var childExitGrace: Duration = .seconds(2)
    /// Whether `run` syncs every active server's tools at start. Defaults to `true`.
    public var syncOnStart: Bool = true
    /// The largest message accepted from a server. Defaults to `16 MiB`.
    public var maxMessageBytes: Int = 16 << 20
    /// The most PostgreSQL connections in the pool. Defaults to `8`.
    public var databasePoolSize: Int = 8
    /// Where the schema migrations are; nil looks in the usual places (see `Migration.bundled`).
    public var migrationsDirectory: String?
    /// The lowest level logged. Defaults to `info`.
    public var logLevel: Logger.Level = .info
    /// Where logs go: `stderr`, `journal`, or `auto` (the journal when started by systemd with
    /// its output connected to the journal). Defaults to `auto`.
    public var logTarget: LogTarget = .auto

    /// Where log lines go.
    public enum LogTarget: String, Sendable, CaseIterable {
        case auto, stderr, journal
    }

    public init() {}

    static func defaultWorkerID() -> String {
        "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)"
    }
}
