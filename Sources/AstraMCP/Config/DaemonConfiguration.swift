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
    /// How long a claim is held without a heartbeat before it counts as abandoned and another
    /// worker takes it over (the heartbeat renews it every third of this). Defaults to `30` s.
    public var leaseDuration: Duration = .seconds(30)
    /// The longest one statement of the daemon may run (PostgreSQL's `statement_timeout`), so
    /// nothing the database does can freeze the hot path. Defaults to `30` s.
    public var statementTimeout: Duration = .seconds(30)
    /// The longest the daemon waits for a row lock (PostgreSQL's `lock_timeout`), so a backend
    /// transaction holding a lock cannot freeze outcome writes. Defaults to `5` s.
    public var lockTimeout: Duration = .seconds(5)
    /// How long in-flight calls may finish after SIGTERM before they are handed back to the
    /// queue. Defaults to `30` s.
    public var shutdownGrace: Duration = .seconds(30)
    /// The cap on a call whose tool sets no `max_duration_seconds`: progress never extends
    /// it. Defaults to `3600` s.
    public var defaultMaxDuration: Duration = .seconds(3600)
    /// The least time between two progress writes of one execution. Defaults to `1` s.
    public var progressInterval: Duration = .seconds(1)
    /// How long an execution of a tool with `requires_confirmation` waits for its confirmation
    /// before it ends `error`. Defaults to `3600` s.
    public var confirmationTimeout: Duration = .seconds(3600)
    /// Finished executions older than this many days are deleted (`execution_retention_days`);
    /// nil keeps them for ever.
    public var executionRetentionDays: Int?
    /// The programs stdio servers may start (see ``StdioCommandPolicy``). Defaults to none.
    public var stdioCommands = StdioCommandPolicy(allowed: [])
    /// Whether stdio children run in a sandbox that hides the daemon's secrets (`stdio_sandbox`).
    public var stdioSandbox = StdioSandbox.none
    /// The addresses HTTP and SSE servers and callback receivers may be at (`network_allow`,
    /// `network_deny`).
    public var networkPolicy = NetworkPolicy()
    /// Callback deliveries in flight at once; `0`: this daemon delivers none. Defaults to `16`.
    public var callbackConcurrency: Int = 16
    /// How long one callback attempt may take. Defaults to `10` s.
    public var callbackTimeout: Duration = .seconds(10)
    /// How long after an outcome its callback is still tried. Defaults to a day.
    public var callbackDeadline: Duration = .seconds(86_400)
    /// The first callback retry's delay (each later one doubles). Defaults to `1` s.
    public var callbackRetryBaseDelay: Duration = .seconds(1)
    /// The longest delay between two callback attempts. Defaults to `600` s.
    public var callbackRetryMaxDelay: Duration = .seconds(600)
    /// How long a server may take to start and answer `initialize`. Defaults to `30` s.
    public var initializeTimeout: Duration = .seconds(30)
    /// How long a remote server may stay silent: waiting for a response head, or between two
    /// reads of a reply or stream. Defaults to `300` s.
    public var httpReadTimeout: Duration = .seconds(300)
    /// How long a stdio child may take to exit after its stdin closes, before SIGTERM and then
    /// SIGKILL go to its process group. Defaults to `2` s.
    public var childExitGrace: Duration = .seconds(2)
    /// Whether `run` syncs every active server's tools at start. Defaults to `true`.
    public var syncOnStart: Bool = true
    /// The largest message accepted from a server. Defaults to `16 MiB`.
    public var maxMessageBytes: Int = 16 << 20
    /// The most PostgreSQL connections in the pool. Defaults to `8`.
    public var databasePoolSize: Int = 8
    /// How often every active server is checked (`ping`, or a fresh start when no session is
    /// open). Defaults to `30` s.
    public var healthCheckInterval: Duration = .seconds(30)
    /// How long one check may take. Defaults to `10` s.
    public var healthCheckTimeout: Duration = .seconds(10)
    /// The most checks at once. Defaults to `8`.
    public var healthCheckParallelism: Int = 8
    /// How long a server may keep failing its checks before it counts as unhealthy.
    /// Defaults to `300` s.
    public var unhealthyAfter: Duration = .seconds(300)
    /// Whether an unhealthy server is deactivated (`is_active = false`, with the reason).
    /// Defaults to `false`.
    public var deactivateUnhealthy: Bool = false
    /// How often every active server's tools are synced. Defaults to `300` s.
    public var toolSyncInterval: Duration = .seconds(300)
    /// How often the pool compares its sessions with the server rows, the backstop for lost
    /// change notifications. Defaults to `60` s.
    public var reconcileInterval: Duration = .seconds(60)
    /// How long an unused session stays open; `0` keeps it. Defaults to `600` s.
    public var sessionIdleTimeout: Duration = .seconds(600)
    /// Whether every active server's session is opened at start rather than on first use.
    /// Defaults to `false`.
    public var eagerConnect: Bool = false
    /// The most calls in flight to one server, so one busy server cannot take every slot.
    /// Defaults to `32`.
    public var maxInFlightPerServer: Int = 32
    /// The most MCP sessions per server (a server's config may say `"sessions": N`). One session
    /// multiplexes concurrent calls; more help a server that answers one request at a time.
    /// Defaults to `1`.
    public var sessionsPerServer: Int = 1
    /// The longest wait before restarting a server that keeps failing to start (the waits grow
    /// exponentially from 0.5 s, with jitter). Defaults to `60` s.
    public var restartBackoffMax: Duration = .seconds(60)
    /// Where the Prometheus endpoint (`GET /metrics`) listens, a loopback address; nil (the
    /// default) serves no metrics.
    public var metricsListen: MetricsListenAddress?
    /// The most distinct server names, and the most distinct server/tool pairs, that metrics
    /// label; the rest are counted as `other`. Defaults to `200`.
    public var metricsLabelCap: Int = 200
    /// The circuit breaker of each server.
    public var circuitBreaker = CircuitBreakerOptions()
    /// Retries of transient failures.
    public var retry = RetryOptions()

    /// When a server's circuit opens, and for how long.
    public struct CircuitBreakerOptions: Sendable, Equatable {
        /// Consecutive failures that open the circuit. Defaults to `5`.
        public var failureThreshold = 5
        /// The failure rate over `window` that opens it, once `minimumCalls` were made. Defaults to `0.5`.
        public var failureRate = 0.5
        /// Defaults to `20`.
        public var minimumCalls = 20
        /// Defaults to `60` s.
        public var window: Duration = .seconds(60)
        /// How long it stays open before trial calls. Defaults to `30` s.
        public var coolDown: Duration = .seconds(30)
        /// Trial calls at once while half-open. Defaults to `1`.
        public var halfOpenCalls = 1
        /// How long an execution may wait for an open circuit before it fails. Defaults to `300` s.
        public var maxWait: Duration = .seconds(300)
    }

    /// How transient failures are retried.
    public struct RetryOptions: Sendable, Equatable {
        /// Attempts in all, unless the tool's `max_attempts` says otherwise. Defaults to `3`.
        public var maxAttempts = 3
        /// The first retry's upper bound; it doubles each time (full jitter). Defaults to `1` s.
        public var baseDelay: Duration = .seconds(1)
        /// Defaults to `60` s.
        public var maxDelay: Duration = .seconds(60)
    }

    /// The directory of the keys that encrypt stored credentials (`<key-id>.key` files).
    /// Defaults to `$CREDENTIALS_DIRECTORY` (systemd's `LoadCredential=`), else
    /// `/etc/astra-mcpd/keys`.
    public var credentialKeysDirectory: String =
        ProcessInfo.processInfo.environment["CREDENTIALS_DIRECTORY"] ?? "/etc/astra-mcpd/keys"
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
