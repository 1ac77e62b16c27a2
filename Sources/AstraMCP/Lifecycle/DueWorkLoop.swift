import Logging

/// The loop health checks and tool syncs share: claim the servers due, do the work for each
/// (in parallel), and when none is due sleep until the next one is, or until woken (a server
/// row changed). A database that cannot be reached is tried again with backoff.
struct DueWorkLoop: Sendable {
    /// What the work is, for the log: "health checks", "tool syncs".
    var work: String
    var logger: Logger
    var wake: WakeSignal
    /// Claims the servers due now.
    var claim: @Sendable () async throws -> [ServerDescriptor]
    /// How long until the next server is due.
    var untilNextDue: @Sendable () async throws -> Duration
    var perform: @Sendable (ServerDescriptor) async -> Void

    /// The shortest sleep between two looks, so a server due again at once cannot spin the loop.
    static let minimumWait: Duration = .milliseconds(50)

    /// Runs until cancelled.
    func run() async {
        var failures = 0
        while !Task.isCancelled {
            do {
                let due = try await claim()
                failures = 0
                if due.isEmpty {
                    await wake.wait(timeout: max(Self.minimumWait, try await untilNextDue()))
                    continue
                }
                await withDiscardingTaskGroup { group in
                    for server in due { group.addTask { await perform(server) } }
                }
            } catch is CancellationError {
                return
            } catch {
                failures += 1
                logger.error("\(work) could not be scheduled", metadata: ["error": "\(String(reflecting: error))"])
                try? await Task.sleep(for: Backoff.delay(failedAttempt: failures))
            }
        }
    }
}
