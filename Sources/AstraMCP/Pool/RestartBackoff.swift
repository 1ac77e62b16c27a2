/// How long a server that keeps failing waits before its next start: 0.5 s, 1 s, 2 s, … up to a
/// cap, with jitter, so a broken server fails its executions fast instead of being started once
/// per execution. A session that ran for a minute before it died starts the count again.
enum RestartBackoff {
    /// A session up for longer than this before it died was not failing.
    static let healthyUptime: Duration = .seconds(60)
    static let base: Duration = .milliseconds(500)

    /// The failures in a row once one more is counted.
    /// - Parameter upFor: How long the session ran before it died; nil for a start that failed.
    static func failuresInARow(before: Int, upFor: Duration?) -> Int {
        if let upFor, upFor > healthyUptime { return 1 }
        return before + 1
    }

    /// The wait before the next start after `failuresInARow` failures.
    /// - Parameter jitter: From 0 to 1: where in the upper half of the bound the wait falls.
    static func delay(failuresInARow: Int, cap: Duration, jitter: Double) -> Duration {
        Backoff.delay(failedAttempt: failuresInARow, base: base, cap: cap, jitter: jitter)
    }
}
