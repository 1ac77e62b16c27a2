import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// Delivers the callback outbox (`mcp_callback_deliveries`): each execution's outcome, POSTed
/// to its callback URL and signed per Standard Webhooks with its team's secret.
///
/// The loop claims as many due deliveries as it has free slots (`concurrency`), sends each in a
/// child task, and records the attempts of those that finished in one statement. A 2xx means
/// delivered; anything else (a refused connection, a timeout, another status, a redirect, which
/// is never followed) is tried again with backoff until the delivery's deadline. It sleeps until
/// the outbox's notification (`astra_mcpd_callbacks`), a slot frees, or the next retry falls
/// due. On graceful shutdown it stops claiming and lets the deliveries in flight finish.
public final class CallbackDeliverer: Service, Sendable {
    /// The deliverer's settings.
    public struct Configuration: Sendable {
        /// Deliveries in flight at once; 0: this daemon delivers none (another one does).
        public var concurrency = 16
        /// How long one attempt may take, connecting included.
        public var timeout: Duration = .seconds(10)
        /// How long after the outcome a delivery is still tried.
        public var deadline: Duration = .seconds(86_400)
        /// The first retry's delay; each later one doubles, up to `maxRetryDelay`.
        public var retryBaseDelay: Duration = .seconds(1)
        public var maxRetryDelay: Duration = .seconds(600)
        /// How often the outbox is looked at without a notification.
        public var pollInterval: Duration = .seconds(5)
        /// The addresses receivers may be at; one the policy refuses is not sent to, and the
        /// attempt says why.
        public var networkPolicy = NetworkPolicy()

        public init() {}

        public init(_ daemon: DaemonConfiguration) {
            concurrency = daemon.callbackConcurrency
            timeout = daemon.callbackTimeout
            deadline = daemon.callbackDeadline
            retryBaseDelay = daemon.callbackRetryBaseDelay
            maxRetryDelay = daemon.callbackRetryMaxDelay
            pollInterval = daemon.pollInterval
            networkPolicy = daemon.networkPolicy
        }
    }

    /// The settings now: a reload (``reconfigure(_:)``) replaces all but `concurrency`.
    var configuration: Configuration { settings.value }
    private let settings: LiveValue<Configuration>
    let store: CallbackStore
    let credentials: CredentialStore
    let logger: Logger
    private let clients: PinnedHTTPClients
    private let wake = WakeSignal()
    private let results = Mutex<[DeliveryResult]>([])
    private let inFlight = Atomic<Int>(0)
    private let delivered = Atomic<Int>(0)
    /// Each team's signer, by the sealed secret it was opened from (a new secret replaces it):
    /// opening one reads the key files and decrypts, too slow to do for every delivery.
    private let signers = Mutex<[UUID: (sealed: String, signer: WebhookSigner)]>([:])
    /// The most teams whose signers are kept.
    static let maxCachedSigners = 4096
    /// Set on graceful shutdown: no more claims.
    private let stopping = Atomic<Bool>(false)

    public init(configuration: Configuration, store: CallbackStore, credentials: CredentialStore, logger: Logger) {
        settings = LiveValue(configuration)
        self.store = store
        self.credentials = credentials
        self.logger = logger
        var http = HTTPClient.Configuration(redirectConfiguration: .disallow)
        http.timeout = .init(connect: TimeAmount(configuration.timeout), read: TimeAmount(configuration.timeout))
        clients = PinnedHTTPClients(configuration: http, policy: configuration.networkPolicy, logger: logger)
    }

    /// Applies a reloaded configuration: timeouts, deadline, retry delays and the network
    /// policy (deliveries in flight finish as they started). `callback_concurrency` needs a restart.
    public func reconfigure(_ daemon: DaemonConfiguration) {
        var updated = Configuration(daemon)
        updated.concurrency = configuration.concurrency
        settings.value = updated
        clients.setPolicy(updated.networkPolicy)
        wake.signal()
    }

    /// The ``ChannelListener`` handler of ``ChannelListener/callbacks``: a delivery was queued
    /// (or, after a reconnect, may have been).
    public func deliveryQueued(_ payload: String?) {
        wake.signal()
    }

    /// Deliveries that got a 2xx from this process so far.
    public var deliveredCount: Int { delivered.load(ordering: .relaxed) }

    public func run() async throws {
        guard configuration.concurrency > 0 else {
            logger.info("callback delivery is off in this daemon (callback_concurrency = 0)")
            try? await gracefulShutdown()
            await clients.shutdown()
            return
        }
        await withDiscardingTaskGroup { group in
            await withGracefulShutdownHandler {
                await self.loop(group: &group)
            } onGracefulShutdown: {
                self.stopping.store(true, ordering: .relaxed)
                self.wake.signal()
            }
        }
        // What finished while the loop stopped.
        await recordFinished()
        await clients.shutdown()
    }

    private func loop(group: inout DiscardingTaskGroup) async {
        var failures = 0
        while !stopping.load(ordering: .relaxed) && !Task.isCancelled {
            await recordFinished()
            let free = configuration.concurrency - inFlight.load(ordering: .relaxed)
            var sleep = configuration.pollInterval
            if free > 0 {
                do {
                    let claimed = try await store.claim(limit: free, lease: configuration.timeout * 3, deadline: configuration.deadline)
                    failures = 0
                    for delivery in claimed {
                        inFlight.add(1, ordering: .relaxed)
                        group.addTask {
                            let result = await self.deliver(delivery)
                            self.results.withLock { $0.append(result) }
                            self.inFlight.subtract(1, ordering: .relaxed)
                            self.wake.signal()
                        }
                    }
                    // A full claim may have left more due; otherwise sleep until the next retry.
                    if claimed.count == free { continue }
                    if let next = try await store.timeUntilNextDue() { sleep = min(max(next, .milliseconds(10)), sleep) }
                } catch {
                    failures += 1
                    logger.error("could not claim callback deliveries; retrying", metadata: ["error": "\(String(reflecting: error))"])
                    sleep = Backoff.delay(failedAttempt: failures)
                }
            }
            await wake.wait(timeout: sleep)
        }
        // Graceful shutdown: the deliveries in flight finish (each within its timeout).
        while inFlight.load(ordering: .relaxed) > 0 && !Task.isCancelled {
            await wake.wait(timeout: configuration.timeout)
        }
    }

    /// Writes the attempts that finished, in one statement; kept for the next try if it fails
    /// (each delivery's lease outlasts it, and an expired one is only delivered again).
    private func recordFinished() async {
        let finished = results.withLock { results in
            defer { results = [] }
            return results
        }
        guard !finished.isEmpty else { return }
        do {
            try await store.record(finished)
        } catch {
            logger.error("could not record callback deliveries; retrying", metadata: ["error": "\(String(reflecting: error))"])
            results.withLock { $0.append(contentsOf: finished) }
        }
    }

    /// One attempt: sign, POST, and say how it went.
    func deliver(_ delivery: ClaimedDelivery) async -> DeliveryResult {
        let started = ContinuousClock.now
        func result(status: Int? = nil, error: String? = nil) -> DeliveryResult {
            let retry = Backoff.delay(failedAttempt: delivery.attempt, base: configuration.retryBaseDelay, cap: configuration.maxRetryDelay)
            let latency = Int(Backoff.milliseconds(ContinuousClock.now - started))
            return DeliveryResult(id: delivery.id, attempt: delivery.attempt, statusCode: status, latencyMilliseconds: latency, error: error, retryAfter: retry)
        }
        guard let sealed = delivery.sealedSecret else {
            return result(error: "team \(delivery.teamID) has no callback signing secret (astra-mcpd callbacks set-secret)")
        }
        let signer: WebhookSigner
        if let cached = signers.withLock({ $0[delivery.teamID] }), cached.sealed == sealed {
            signer = cached.signer
        } else {
            do {
                signer = try credentials.callbackSigner(sealed: sealed, teamID: delivery.teamID)
            } catch {
                return result(error: "cannot sign: \(error.description)")
            }
            signers.withLock { signers in
                if signers.count >= Self.maxCachedSigners { signers.removeAll() }
                signers[delivery.teamID] = (sealed, signer)
            }
        }
        var request = HTTPClientRequest(url: delivery.url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "user-agent", value: "astra-mcpd")
        for (name, value) in signer.headers(id: delivery.id.uuidString.lowercased(), timestamp: Int(Date().timeIntervalSince1970), body: delivery.payload) {
            request.headers.add(name: name, value: value)
        }
        request.body = .bytes(ByteBuffer(string: delivery.payload))
        let lease: PinnedHTTPClients.Lease
        do {
            lease = try await clients.lease(for: delivery.url)
        } catch {
            return result(error: error.description)
        }
        let sent: Result<Int, any Error>
        do {
            let response = try await lease.client.execute(request, timeout: TimeAmount(configuration.timeout), logger: logger)
            // The body says nothing we need; read a little, so the connection can be reused.
            _ = try? await response.body.collect(upTo: 64 << 10)
            sent = .success(Int(response.status.code))
        } catch {
            sent = .failure(error)
        }
        await clients.release(lease)
        switch sent {
        case .success(let status) where (200..<300).contains(status):
            delivered.add(1, ordering: .relaxed)
            return result(status: status)
        case .success(let status) where (300..<400).contains(status):
            return result(status: status, error: "redirect not followed (HTTP \(status))")
        case .success(let status):
            return result(status: status, error: "HTTP \(status)")
        case .failure(let error):
            return result(error: Self.describe(error))
        }
    }

    /// A short, secret-free reason for a failed attempt.
    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .connectTimeout: return "timed out"
            case .remoteConnectionClosed: return "the receiver closed the connection"
            default: return "\(error)"
            }
        }
        let text = String(describing: error)
        return text.count > 300 ? String(text.prefix(300)) + "…" : text
    }
}
