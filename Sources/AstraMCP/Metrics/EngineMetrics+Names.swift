extension EngineMetrics {
    /// The metric names, as Prometheus shows them (README, "Metrics", lists them with their
    /// labels).
    public enum Name {
        /// Counter `{server, tool, status}`: executions this daemon ran to a final status
        /// (`success`, `error`, `timeout`, `cancelled`).
        public static let executions = "astra_mcpd_executions_total"
        /// Counter `{server, tool}`: retries this daemon scheduled (the execution went back to
        /// the queue for a later attempt).
        public static let retries = "astra_mcpd_execution_retries_total"
        /// Histogram `{server, tool}`, seconds: from the claim to the final status.
        public static let executionDuration = "astra_mcpd_execution_duration_seconds"
        /// Histogram, seconds: from the row's enqueue time to its `tools/call` being sent, for
        /// first attempts.
        public static let pickupLatency = "astra_mcpd_pickup_latency_seconds"
        /// Gauge: executions ready in the queue (the whole fleet's), as of the last heartbeat.
        public static let queueReady = "astra_mcpd_queue_ready_executions"
        /// Gauge: this daemon's calls in flight, as of the last heartbeat.
        public static let inFlight = "astra_mcpd_executions_in_flight"
        /// Gauge `{server}`: this daemon's circuit breaker, 0 closed, 1 half-open, 2 open.
        public static let circuitState = "astra_mcpd_circuit_state"
        /// Gauge `{server}`: live sessions, as of the last heartbeat.
        public static let sessions = "astra_mcpd_sessions"
        /// Counter `{server}`: sessions that died (a child exited, a connection dropped), found
        /// by their own end or by a call first; the next call starts a new one.
        public static let sessionRestarts = "astra_mcpd_session_restarts_total"
        /// Counter `{server}`: session starts that failed (spawn, connect or `initialize`).
        public static let sessionStartFailures = "astra_mcpd_session_start_failures_total"
        /// Histogram: completions per outcome-writer batch (one statement writes each kind).
        public static let completionBatchSize = "astra_mcpd_completion_batch_size"
        /// Counter `{statement}`: round trips to PostgreSQL of the store's statements.
        public static let databaseRoundTrips = "astra_mcpd_database_round_trips_total"
    }

    /// The label names.
    public enum Label {
        public static let server = "server"
        public static let tool = "tool"
        public static let status = "status"
        public static let statement = "statement"
    }

    /// Upper bounds of the duration histogram's buckets: a tool call takes milliseconds to an hour.
    static let durationBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
        .seconds(60), .seconds(300), .seconds(900), .seconds(3600),
    ]

    /// Upper bounds of the pickup histogram's buckets: sub-millisecond when idle, seconds under a backlog.
    static let pickupBuckets: [Duration] = [
        .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        .seconds(5), .seconds(30), .seconds(120),
    ]

    /// Upper bounds of the batch-size histogram's buckets, up to `completion_batch_size`'s maximum.
    static let batchSizeBuckets: [Double] = [1, 2, 5, 10, 20, 50, 100, 200]
}
