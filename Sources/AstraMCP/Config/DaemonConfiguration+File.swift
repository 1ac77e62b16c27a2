import Foundation
import Logging

/// A configuration problem; `description` is one line naming the key or the cause.
public struct ConfigurationError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension DaemonConfiguration {
    /// The file read when no `--config` is given; it may be absent.
    public static let defaultFilePath = "/etc/astra-mcpd/astra-mcpd.conf"
    /// Environment variables named `ASTRA_MCPD_<KEY>` override the file's keys.
    public static let environmentPrefix = "ASTRA_MCPD_"

    /// The keys of the configuration file, each with how it is applied. The file is
    /// `key = value` lines (values may be double-quoted) and `#` comment lines.
    ///
    /// - `database_url` (string, no default)
    /// - `database_url_file` (a file whose first line is the URL; `$CREDENTIALS_DIRECTORY/database-url`
    ///   is read when no URL is given otherwise)
    /// - `worker_id` (string, default `<hostname>:<pid>`)
    /// - `max_concurrency` (integer 1…10000, default 64)
    /// - `claim_batch_size` (integer 1…1000, default 64)
    /// - `completion_batch_size` (integer 1…200, default 200)
    /// - `poll_interval_seconds` (number > 0, default 5)
    /// - `lease_seconds` (number > 0, default 300)
    /// - `shutdown_grace_seconds` (number ≥ 0, default 30)
    /// - `default_max_duration_seconds` (number > 0, default 3600)
    /// - `progress_interval_seconds` (number ≥ 0, default 1)
    /// - `confirmation_timeout_seconds` (number > 0, default 3600)
    /// - `stdio_commands` (comma-separated absolute paths and directories ending in `/`; default none:
    ///   no stdio server starts until its program is listed)
    /// - `execution_retention_days` (integer ≥ 0, default 0: finished executions are kept for ever)
    /// - `stdio_sandbox` (`none`, `bwrap`, or bwrap's absolute path; default none: see ``StdioSandbox``),
    ///   `stdio_sandbox_hide` (comma-separated absolute paths also hidden from sandboxed children)
    /// - `network_allow` (comma-separated CIDR networks HTTP servers and callback receivers may be
    ///   in although `network_deny` lists them; default none)
    /// - `network_deny` (comma-separated CIDR networks refused; default loopback, private and
    ///   special-purpose ranges, see ``NetworkPolicy``; link-local and metadata addresses are
    ///   refused whatever either says)
    /// - `callback_concurrency` (integer 0…1000, default 16; 0: this daemon delivers no callbacks)
    /// - `callback_timeout_seconds` (number > 0, default 10), `callback_deadline_seconds` (default 86400),
    ///   `callback_retry_base_delay_seconds` (default 1), `callback_retry_max_delay_seconds` (default 600)
    /// - `initialize_timeout_seconds` (number > 0, default 30)
    /// - `http_read_timeout_seconds` (number > 0, default 300)
    /// - `child_exit_grace_seconds` (number ≥ 0, default 2)
    /// - `sync_on_start` (boolean, default true)
    /// - `max_message_bytes` (integer ≥ 1024, default 16777216)
    /// - `database_pool_size` (integer 1…100, default 8)
    /// - `credential_keys_dir` (string, default `$CREDENTIALS_DIRECTORY` or `/etc/astra-mcpd/keys`)
    /// - `migrations_dir` (string, default: found next to the binary or in its source tree)
    /// - `health_check_interval_seconds` (number > 0, default 30)
    /// - `health_check_timeout_seconds` (number > 0, default 10)
    /// - `health_check_parallelism` (integer 1…256, default 8)
    /// - `unhealthy_after_seconds` (number ≥ 0, default 300)
    /// - `deactivate_unhealthy` (boolean, default false)
    /// - `tool_sync_interval_seconds` (number > 0, default 300)
    /// - `reconcile_interval_seconds` (number > 0, default 60)
    /// - `session_idle_timeout_seconds` (number ≥ 0, 0 = never, default 600)
    /// - `eager_connect` (boolean, default false)
    /// - `max_in_flight_per_server` (integer 1…10000, default 32)
    /// - `sessions_per_server` (integer 1…64, default 1)
    /// - `restart_backoff_max_seconds` (number > 0, default 60)
    /// - `circuit_failure_threshold` (integer, default 5), `circuit_failure_rate` (0…1, default 0.5),
    ///   `circuit_minimum_calls` (default 20), `circuit_window_seconds` (default 60),
    ///   `circuit_cool_down_seconds` (default 30), `circuit_half_open_calls` (default 1),
    ///   `circuit_max_wait_seconds` (default 300)
    /// - `retry_max_attempts` (integer 1…20, default 3), `retry_base_delay_seconds` (default 1),
    ///   `retry_max_delay_seconds` (default 60)
    /// - `metrics_listen` (`ADDRESS:PORT` on loopback: `127.0.0.1:9464`, `[::1]:9464`, `localhost:9464`; port 0 takes
    ///   a free one; default empty: no metrics endpoint; any other address is refused, see ``MetricsListenAddress``)
    /// - `metrics_label_cap` (integer 1…10000, default 200: server names and server/tool pairs labelled, the rest `other`)
    /// - `log_level` (trace, debug, info, notice, warning, error, critical; default info)
    /// - `log_target` (auto, stderr, journal; default auto)
    static let keys: [String: @Sendable (inout DaemonConfiguration, String) throws -> Void] = [
        "database_url": { c, v in c.databaseURL = v },
        "database_url_file": { c, v in c.databaseURL = try readSecretFile(v) },
        "worker_id": { c, v in
            guard !v.isEmpty else { throw ConfigurationError("must not be empty") }
            c.workerID = v
        },
        "max_concurrency": { c, v in c.maxConcurrency = try integer(v, in: 1...10_000) },
        "claim_batch_size": { c, v in c.claimBatchSize = try integer(v, in: 1...1000) },
        "completion_batch_size": { c, v in c.completionBatchSize = try integer(v, in: 1...200) },
        "poll_interval_seconds": { c, v in c.pollInterval = try seconds(v, allowZero: false) },
        "lease_seconds": { c, v in
            c.leaseDuration = try seconds(v, allowZero: false)
            guard c.leaseDuration >= .seconds(1) else { throw ConfigurationError("must be at least 1 s") }
        },
        "statement_timeout_seconds": { c, v in c.statementTimeout = try seconds(v, allowZero: false) },
        "lock_timeout_seconds": { c, v in c.lockTimeout = try seconds(v, allowZero: false) },
        "shutdown_grace_seconds": { c, v in c.shutdownGrace = try seconds(v, allowZero: true) },
        "default_max_duration_seconds": { c, v in c.defaultMaxDuration = try seconds(v, allowZero: false) },
        "progress_interval_seconds": { c, v in c.progressInterval = try seconds(v, allowZero: true) },
        "confirmation_timeout_seconds": { c, v in c.confirmationTimeout = try seconds(v, allowZero: false) },
        "stdio_commands": { c, v in c.stdioCommands = try StdioCommandPolicy.parse(v) },
        "execution_retention_days": { c, v in
            let days = try integer(v, in: 0...36_500)
            c.executionRetentionDays = days == 0 ? nil : days
        },
        "stdio_sandbox": { c, v in
            let hidden = c.stdioSandbox.extraHiddenPaths
            c.stdioSandbox = try StdioSandbox.parse(v)
            c.stdioSandbox.extraHiddenPaths = hidden
        },
        "stdio_sandbox_hide": { c, v in
            let paths = v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            for path in paths where !path.hasPrefix("/") { throw ConfigurationError("'\(path)' is not an absolute path") }
            c.stdioSandbox.extraHiddenPaths = paths
        },
        "network_allow": { c, v in c.networkPolicy.allowed = try NetworkPolicy.parseNetworks(v, key: "network_allow") },
        "network_deny": { c, v in c.networkPolicy.denied = try NetworkPolicy.parseNetworks(v, key: "network_deny") },
        "callback_concurrency": { c, v in c.callbackConcurrency = try integer(v, in: 0...1000) },
        "callback_timeout_seconds": { c, v in c.callbackTimeout = try seconds(v, allowZero: false) },
        "callback_deadline_seconds": { c, v in c.callbackDeadline = try seconds(v, allowZero: false) },
        "callback_retry_base_delay_seconds": { c, v in c.callbackRetryBaseDelay = try seconds(v, allowZero: false) },
        "callback_retry_max_delay_seconds": { c, v in c.callbackRetryMaxDelay = try seconds(v, allowZero: false) },
        "initialize_timeout_seconds": { c, v in c.initializeTimeout = try seconds(v, allowZero: false) },
        "http_read_timeout_seconds": { c, v in c.httpReadTimeout = try seconds(v, allowZero: false) },
        "child_exit_grace_seconds": { c, v in c.childExitGrace = try seconds(v, allowZero: true) },
        "sync_on_start": { c, v in c.syncOnStart = try boolean(v) },
        "max_message_bytes": { c, v in c.maxMessageBytes = try integer(v, in: 1024...(1 << 30)) },
        "migrations_dir": { c, v in c.migrationsDirectory = v },
        "credential_keys_dir": { c, v in c.credentialKeysDirectory = v },
        "health_check_interval_seconds": { c, v in c.healthCheckInterval = try seconds(v, allowZero: false) },
        "health_check_timeout_seconds": { c, v in c.healthCheckTimeout = try seconds(v, allowZero: false) },
        "health_check_parallelism": { c, v in c.healthCheckParallelism = try integer(v, in: 1...256) },
        "unhealthy_after_seconds": { c, v in c.unhealthyAfter = try seconds(v, allowZero: true) },
        "deactivate_unhealthy": { c, v in c.deactivateUnhealthy = try boolean(v) },
        "tool_sync_interval_seconds": { c, v in c.toolSyncInterval = try seconds(v, allowZero: false) },
        "reconcile_interval_seconds": { c, v in c.reconcileInterval = try seconds(v, allowZero: false) },
        "session_idle_timeout_seconds": { c, v in c.sessionIdleTimeout = try seconds(v, allowZero: true) },
        "eager_connect": { c, v in c.eagerConnect = try boolean(v) },
        "max_in_flight_per_server": { c, v in c.maxInFlightPerServer = try integer(v, in: 1...10_000) },
        "sessions_per_server": { c, v in c.sessionsPerServer = try integer(v, in: 1...64) },
        "restart_backoff_max_seconds": { c, v in c.restartBackoffMax = try seconds(v, allowZero: false) },
        "circuit_failure_threshold": { c, v in c.circuitBreaker.failureThreshold = try integer(v, in: 1...10_000) },
        "circuit_failure_rate": { c, v in
            guard let rate = Double(v), rate > 0, rate <= 1 else { throw ConfigurationError("expected a number in (0, 1], got '\(v)'") }
            c.circuitBreaker.failureRate = rate
        },
        "circuit_minimum_calls": { c, v in c.circuitBreaker.minimumCalls = try integer(v, in: 1...1_000_000) },
        "circuit_window_seconds": { c, v in c.circuitBreaker.window = try seconds(v, allowZero: false) },
        "circuit_cool_down_seconds": { c, v in c.circuitBreaker.coolDown = try seconds(v, allowZero: false) },
        "circuit_half_open_calls": { c, v in c.circuitBreaker.halfOpenCalls = try integer(v, in: 1...1000) },
        "circuit_max_wait_seconds": { c, v in c.circuitBreaker.maxWait = try seconds(v, allowZero: true) },
        "retry_max_attempts": { c, v in c.retry.maxAttempts = try integer(v, in: 1...20) },
        "retry_base_delay_seconds": { c, v in c.retry.baseDelay = try seconds(v, allowZero: false) },
        "retry_max_delay_seconds": { c, v in c.retry.maxDelay = try seconds(v, allowZero: false) },
        "database_pool_size": { c, v in c.databasePoolSize = try integer(v, in: 1...100) },
        "metrics_listen": { c, v in
            c.metricsListen = ["", "off"].contains(v.lowercased()) ? nil : try MetricsListenAddress.parse(v)
        },
        "metrics_label_cap": { c, v in c.metricsLabelCap = try integer(v, in: 1...10_000) },
        "log_level": { c, v in
            guard let level = Logger.Level(rawValue: v.lowercased()) else {
                throw ConfigurationError("expected one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), got '\(v)'")
            }
            c.logLevel = level
        },
        "log_target": { c, v in
            guard let target = LogTarget(rawValue: v.lowercased()) else {
                throw ConfigurationError("expected one of auto, stderr, journal, got '\(v)'")
            }
            c.logTarget = target
        },
    ]

    /// Loads the configuration: defaults, then the file, then `ASTRA_MCPD_*` variables.
    ///
    /// - Parameters:
    ///   - path: The file given with `--config`: it must exist. Nil reads
    ///     ``defaultFilePath`` if it exists.
    ///   - environment: The process environment.
    public static func load(path: String?, environment: [String: String]) throws(ConfigurationError) -> DaemonConfiguration {
        var configuration = DaemonConfiguration()
        let filePath = path ?? defaultFilePath
        if let text = try? String(contentsOfFile: filePath, encoding: .utf8) {
            try configuration.apply(fileText: text, source: filePath)
        } else if path != nil {
            throw ConfigurationError("cannot read configuration file '\(filePath)'")
        }
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) where name.hasPrefix(environmentPrefix) {
            let key = name.dropFirst(environmentPrefix.count).lowercased()
            guard let apply = keys[key] else {
                throw ConfigurationError("unknown environment variable \(name): no configuration key '\(key)'")
            }
            do { try apply(&configuration, value) } catch { throw ConfigurationError("\(name): \(error)") }
        }
        // Under systemd, `LoadCredential=database-url:…` hands the URL over in a private file,
        // out of the environment and the command line.
        if configuration.databaseURL == nil, let directory = environment["CREDENTIALS_DIRECTORY"],
            FileManager.default.fileExists(atPath: directory + "/" + databaseURLCredential)
        {
            configuration.databaseURL = try readSecretFile(directory + "/" + databaseURLCredential)
        }
        return configuration
    }

    /// Applies the `key = value` lines of a configuration file.
    public mutating func apply(fileText: String, source: String) throws(ConfigurationError) {
        for (index, rawLine) in fileText.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let location = "\(source):\(index + 1)"
            guard let equals = line.firstIndex(of: "=") else {
                throw ConfigurationError("\(location): expected 'key = value', got '\(line)'")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            guard let apply = Self.keys[key] else {
                throw ConfigurationError("\(location): unknown key '\(key)'")
            }
            do { try apply(&self, value) } catch { throw ConfigurationError("\(location): key '\(key)': \(error)") }
        }
    }

    /// The systemd credential that holds the database URL (`LoadCredential=database-url:…`).
    public static let databaseURLCredential = "database-url"

    /// A file that holds one secret (the database URL): its first line, trimmed.
    static func readSecretFile(_ path: String) throws(ConfigurationError) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigurationError("cannot read '\(path)'")
        }
        let value = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard !value.isEmpty else { throw ConfigurationError("'\(path)' is empty") }
        return value
    }

    /// The database URL, or a configuration error saying how to give one.
    public func requireDatabaseURL() throws(ConfigurationError) -> String {
        guard let url = databaseURL, !url.isEmpty else {
            throw ConfigurationError(
                "no database configured: set database_url_file (or database_url) in the configuration file, "
                    + "LoadCredential=\(Self.databaseURLCredential):… under systemd, ASTRA_MCPD_DATABASE_URL, or --database-url")
        }
        return url
    }

    private static func integer(_ value: String, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let number = Int(value) else { throw ConfigurationError("expected an integer, got '\(value)'") }
        guard range.contains(number) else { throw ConfigurationError("\(number) is out of range \(range.lowerBound)…\(range.upperBound)") }
        return number
    }

    private static func seconds(_ value: String, allowZero: Bool) throws(ConfigurationError) -> Duration {
        guard let number = Double(value), number.isFinite else { throw ConfigurationError("expected a number of seconds, got '\(value)'") }
        guard number > 0 || (allowZero && number == 0) else { throw ConfigurationError("must be \(allowZero ? "0 or more" : "more than 0"), got \(value)") }
        return .milliseconds(Int64(number * 1000))
    }

    private static func boolean(_ value: String) throws(ConfigurationError) -> Bool {
        switch value.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw ConfigurationError("expected true or false, got '\(value)'")
        }
    }
}
