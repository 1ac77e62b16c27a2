/// Exponential backoff with full jitter, for reconnects and retried writes.
///
/// | failed attempt | 1 | 2 | 3 | 4 | 5 | 6 | 7+ |
/// |---|---|---|---|---|---|---|---|
/// | upper bound | 100 ms | 200 ms | 400 ms | 800 ms | 1.6 s | 3.2 s | 5 s |
///
/// The delay is drawn uniformly between half the bound and the bound, so a crowd of clients
/// does not reconnect in step.
enum Backoff {
    /// - Parameter jitter: Where in the upper half of the bound the delay falls, from 0 (half
    ///   the bound) to 1 (the bound); random unless given.
    static func delay(
        failedAttempt: Int, base: Duration = .milliseconds(100), cap: Duration = .seconds(5), jitter: Double = .random(in: 0...1)
    ) -> Duration {
        let exponent = min(max(failedAttempt - 1, 0), 20)
        let bound = min(base * (1 << exponent), cap)
        let milliseconds = milliseconds(bound)
        return .milliseconds(Int64(milliseconds / 2 + milliseconds / 2 * min(max(jitter, 0), 1)))
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }
}
