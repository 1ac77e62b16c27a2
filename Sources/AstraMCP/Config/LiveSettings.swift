/// Which settings a reload (`systemctl reload`, SIGHUP) applies while the daemon runs, and
/// which take effect only at the next start.
///
/// A reload never half-applies a file: ``ReloadPlan`` takes the running configuration and
/// copies over only the live settings of the new one, so what the components are handed has
/// every restart-only setting exactly as it was at start.
extension DaemonConfiguration {
    /// One setting of the file, by its key.
    struct Setting: Sendable {
        let key: String
        /// Whether a reload applies it.
        let live: Bool
        let differs: @Sendable (DaemonConfiguration, DaemonConfiguration) -> Bool
        let copy: @Sendable (inout DaemonConfiguration, DaemonConfiguration) -> Void

        static func live<Value: Equatable & Sendable>(
            _ key: String, _ path: any WritableKeyPath<DaemonConfiguration, Value> & Sendable
        ) -> Setting {
            Setting(key: key, live: true, differs: { $0[keyPath: path] != $1[keyPath: path] }, copy: { $0[keyPath: path] = $1[keyPath: path] })
        }

        static func restart<Value: Equatable & Sendable>(
            _ key: String, _ path: any WritableKeyPath<DaemonConfiguration, Value> & Sendable
        ) -> Setting {
            Setting(key: key, live: false, differs: { $0[keyPath: path] != $1[keyPath: path] }, copy: { _, _ in })
        }
    }

    /// Every setting, live or not. Restart-only are the ones built into long-lived parts: the
    /// database pool and its session settings, leases, batch sizes, the session transports'
    /// limits, the sandbox, where logs and keys are.
    static let settings: [Setting] = [
        .live("log_level", \.logLevel),
        .live("max_concurrency", \.maxConcurrency),
        .live("max_in_flight_per_server", \.maxInFlightPerServer),
        .live("poll_interval_seconds", \.pollInterval),
        .live("shutdown_grace_seconds", \.shutdownGrace),
        .live("default_max_duration_seconds", \.defaultMaxDuration),
        .live("confirmation_timeout_seconds", \.confirmationTimeout),
        .live("progress_interval_seconds", \.progressInterval),
        .live("execution_retention_days", \.executionRetentionDays),
        .live("retry_max_attempts", \.retry.maxAttempts),
        .live("retry_base_delay_seconds", \.retry.baseDelay),
        .live("retry_max_delay_seconds", \.retry.maxDelay),
        .live("circuit_max_wait_seconds", \.circuitBreaker.maxWait),
        .live("health_check_interval_seconds", \.healthCheckInterval),
        .live("health_check_timeout_seconds", \.healthCheckTimeout),
        .live("health_check_parallelism", \.healthCheckParallelism),
        .live("unhealthy_after_seconds", \.unhealthyAfter),
        .live("deactivate_unhealthy", \.deactivateUnhealthy),
        .live("tool_sync_interval_seconds", \.toolSyncInterval),
        .live("reconcile_interval_seconds", \.reconcileInterval),
        .live("callback_timeout_seconds", \.callbackTimeout),
        .live("callback_deadline_seconds", \.callbackDeadline),
        .live("callback_retry_base_delay_seconds", \.callbackRetryBaseDelay),
        .live("callback_retry_max_delay_seconds", \.callbackRetryMaxDelay),
        .live("stdio_commands", \.stdioCommands),
        .live("network_allow", \.networkPolicy.allowed),
        .live("network_deny", \.networkPolicy.denied),
        .restart("database_url", \.databaseURL),
        .restart("database_pool_size", \.databasePoolSize),
        .restart("statement_timeout_seconds", \.statementTimeout),
        .restart("lock_timeout_seconds", \.lockTimeout),
        .restart("worker_id", \.workerID),
        .restart("claim_batch_size", \.claimBatchSize),
        .restart("completion_batch_size", \.completionBatchSize),
        .restart("lease_seconds", \.leaseDuration),
        .restart("circuit_failure_threshold", \.circuitBreaker.failureThreshold),
        .restart("circuit_failure_rate", \.circuitBreaker.failureRate),
        .restart("circuit_minimum_calls", \.circuitBreaker.minimumCalls),
        .restart("circuit_window_seconds", \.circuitBreaker.window),
        .restart("circuit_cool_down_seconds", \.circuitBreaker.coolDown),
        .restart("circuit_half_open_calls", \.circuitBreaker.halfOpenCalls),
        .restart("stdio_sandbox", \.stdioSandbox),
        .restart("callback_concurrency", \.callbackConcurrency),
        .restart("initialize_timeout_seconds", \.initializeTimeout),
        .restart("http_read_timeout_seconds", \.httpReadTimeout),
        .restart("child_exit_grace_seconds", \.childExitGrace),
        .restart("max_message_bytes", \.maxMessageBytes),
        .restart("session_idle_timeout_seconds", \.sessionIdleTimeout),
        .restart("sessions_per_server", \.sessionsPerServer),
        .restart("restart_backoff_max_seconds", \.restartBackoffMax),
        .restart("eager_connect", \.eagerConnect),
        .restart("sync_on_start", \.syncOnStart),
        .restart("credential_keys_dir", \.credentialKeysDirectory),
        .restart("migrations_dir", \.migrationsDirectory),
        .restart("log_target", \.logTarget),
        .restart("metrics_listen", \.metricsListen),
        .restart("metrics_label_cap", \.metricsLabelCap),
    ]
}

/// What a reload does with a newly read configuration.
struct ReloadPlan: Sendable {
    /// The running configuration with the new live settings: what the components get.
    let applied: DaemonConfiguration
    /// The live settings that changed, by key.
    let changed: [String]
    /// The settings that changed but wait for a restart, by key.
    let needRestart: [String]

    init(running: DaemonConfiguration, loaded: DaemonConfiguration) {
        var applied = running
        var changed: [String] = []
        var needRestart: [String] = []
        for setting in DaemonConfiguration.settings where setting.differs(running, loaded) {
            if setting.live {
                setting.copy(&applied, loaded)
                changed.append(setting.key)
            } else {
                needRestart.append(setting.key)
            }
        }
        self.applied = applied
        self.changed = changed
        self.needRestart = needRestart
    }
}
