import Logging
import Synchronization

/// The single writer of completions: outcomes, retries and hand-backs, in batches, until the
/// buffer is finished and empty. A slot of the gate is given back only once its completion is
/// written, so memory stays bounded whatever the queue holds.
///
/// A completion the database cannot take just now (a lock a backend holds) is written again
/// after a short backoff, together with whatever came meanwhile: the others are never held up
/// for long.
final class CompletionWriter: Sendable {
    let store: QueueStore
    let gate: DispatchGate
    let leases: LeaseKeeper
    let logger: Logger
    let batchSize: Int
    /// How many outcomes make a batch worth a linger under load.
    let lingerTarget: Int
    /// The longest a batch waits for more outcomes.
    static let maxLinger: Duration = .milliseconds(5)
    /// Wakes the claim loop when a retry scheduled by a written batch becomes due.
    let retryAlarm: Alarm
    /// Told when a batch (or a try of it) starts, and when the writer waits.
    let beacon: ProgressBeacon
    static let loopName = "completion writer"
    /// Where batch sizes are recorded.
    let metrics: EngineMetrics
    private let batches = Atomic<Int>(0)
    private let written = Atomic<Int>(0)

    init(
        store: QueueStore, gate: DispatchGate, leases: LeaseKeeper, retryAlarm: Alarm, beacon: ProgressBeacon, batchSize: Int,
        maxConcurrency: Int, logger: Logger, metrics: EngineMetrics = .disabled
    ) {
        self.metrics = metrics
        self.store = store
        self.beacon = beacon
        self.gate = gate
        self.leases = leases
        self.retryAlarm = retryAlarm
        self.batchSize = batchSize
        self.lingerTarget = min(batchSize, max(maxConcurrency / 4, 1))
        self.logger = logger
    }

    /// Batches written, and completions in them.
    var statistics: (batches: Int, completions: Int) { (batches.load(ordering: .relaxed), written.load(ordering: .relaxed)) }

    /// Writes until `completions` is finished and empty; signals `drained` when the gate is
    /// closed and the last slot is given back.
    func run(_ completions: CompletionBuffer, drained: AsyncEvent) async {
        var later: [Completion] = []
        var laterRounds = 0
        var lastBatchAt: ContinuousClock.Instant?
        var arrivalsPerSecond = 0.0
        while true {
            var batch: [Completion]
            if later.isEmpty {
                beacon.idle(Self.loopName)
                guard let next = await completions.nextBatch() else { break }
                beacon.busy(Self.loopName)
                batch = next
            } else {
                laterRounds += 1
                if gate.isClosed && laterRounds > 20 {
                    logger.critical("gave up writing completions; their leases will expire and recovery takes them over", metadata: ["count": "\(later.count)"])
                    leases.release(later.map(\.lease))
                    gate.release(later.count)
                    later = []
                    if gate.isClosed && gate.inFlight == 0 { drained.signal() }
                    continue
                }
                try? await Task.sleep(for: min(.milliseconds(100) * laterRounds, .seconds(2)))
                let used = later.reduce(0) { $0 + $1.approximateBytes }
                batch = later + completions.takeAvailable(max: max(batchSize - later.count, 0), bytes: completions.maxBatchBytes - used)
                later = []
            }
            // Under load, linger so one round trip carries many outcomes (the database's cost is
            // mostly per statement, not per row): sized to demand, the batch waits for every call in
            // flight, as long as their observed pace says that takes, at most
            // `maxLinger`, and goes the moment it is full.
            let now = ContinuousClock.now
            if let last = lastBatchAt {
                let seconds = max(Backoff.milliseconds(now - last) / 1000, 1e-6)
                arrivalsPerSecond = arrivalsPerSecond == 0 ? Double(batch.count) / seconds : 0.8 * arrivalsPerSecond + 0.2 * Double(batch.count) / seconds
            }
            lastBatchAt = now
            let demand = min(batchSize, max(lingerTarget, gate.inFlight))
            if batch.count < demand, gate.inFlight - batch.count >= lingerTarget, !gate.isClosed, arrivalsPerSecond > 0 {
                let expected = Double(demand - batch.count) / arrivalsPerSecond * 1.25
                let wait = min(Duration.milliseconds(Int64(expected * 1000)), Self.maxLinger)
                if wait >= .microseconds(200) {
                    await completions.waitForItems(demand - batch.count, atMost: wait)
                    let used = batch.reduce(0) { $0 + $1.approximateBytes }
                    batch += completions.takeAvailable(max: batchSize - batch.count, bytes: completions.maxBatchBytes - used)
                }
            }
            later += await write(batch)
            metrics.completionBatchWritten(batch.count)
            if later.isEmpty { laterRounds = 0 }
            let pending = Set(later.map(\.lease))
            let done = batch.filter { !pending.contains($0.lease) }
            leases.release(done.map(\.lease))
            batches.add(1, ordering: .relaxed)
            written.add(done.count, ordering: .relaxed)
            gate.release(done.count)
            if gate.isClosed && gate.inFlight == 0 { drained.signal() }
        }
        beacon.idle(Self.loopName)
    }

    /// Writes one batch; returns the completions to write again later.
    private func write(_ batch: [Completion]) async -> [Completion] {
        var outcomes: [ExecutionOutcome] = []
        var retries: [RetryRequest] = []
        var releases: [ReleaseRequest] = []
        for completion in batch {
            switch completion {
            case .finished(let outcome): outcomes.append(outcome)
            case .retry(let retry): retries.append(retry)
            case .release(let release): releases.append(release)
            }
        }
        var later: [Completion] = []
        let isStopping = { self.gate.isClosed }
        let onAttempt = { self.beacon.busy(Self.loopName) }
        await persist("write outcomes", attempts: 20, logger: logger, isStopping: isStopping, onAttempt: onAttempt) {
            let (written, again) = try await self.store.complete(outcomes)
            later += again.map(Completion.finished)
            if written + again.count < outcomes.count {
                self.logger.warning(
                    "outcomes not written: their lease was taken over by another attempt",
                    metadata: ["count": "\(outcomes.count - written - again.count)"])
            }
        }
        await persist("schedule retries", attempts: 20, logger: logger, isStopping: isStopping, onAttempt: onAttempt) {
            later += try await self.store.retry(retries).map(Completion.retry)
        }
        await persist("hand back executions", attempts: 5, logger: logger, isStopping: isStopping, onAttempt: onAttempt) {
            later += try await self.store.release(releases).map(Completion.release)
        }
        if let soonest = retries.map(\.after).min() { retryAlarm.schedule(at: .now.advanced(by: soonest)) }
        return later
    }
}
