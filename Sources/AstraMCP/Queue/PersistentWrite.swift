import Logging

/// Retries a database write with backoff: outcomes are never dropped while the database is
/// away. While the daemon runs it retries until it succeeds; once it is stopping
/// (`isStopping`), at most `attempts` times (the leases then expire and another worker
/// recovers the executions). A write the database refuses (see ``QueueStore/isRefusal(_:)``)
/// is skipped at once: sending the same statement again cannot help, and it must never stall.
/// `onAttempt` is told of each try (the writer shows the watchdog it is not stuck).
func persist(
    _ what: String, attempts: Int, logger: Logger, isStopping: () -> Bool, onAttempt: () -> Void = {},
    _ operation: () async throws -> Void
) async {
    var attempt = 0
    while true {
        attempt += 1
        onAttempt()
        do {
            try await operation()
            return
        } catch {
            if let refusal = QueueStore.refusal(error) {
                logger.error("the database refused to \(what); skipped", metadata: ["error": "\(refusal)"])
                return
            }
            if isStopping() && attempt >= attempts { break }
            let delay = Backoff.delay(failedAttempt: attempt)
            logger.error("could not \(what); retrying", metadata: ["error": "\(String(reflecting: error))", "attempt": "\(attempt)"])
            try? await Task.sleep(for: delay)
        }
    }
    logger.critical("gave up trying to \(what); the leases will expire and the executions can be recovered")
}
