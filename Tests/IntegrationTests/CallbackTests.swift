import Foundation
import PostgresNIO
import Testing

@testable import AstraMCP

/// `Tests/Fixtures/webhook_receiver.py`: a receiver that checks signatures with the
/// `standardwebhooks` package, and what it saw.
final class WebhookReceiver: Sendable {
    let secret: String
    private let fixture = PythonFixture(recordPrefix: "astra-hooks")

    var url: String { "http://127.0.0.1:\(fixture.port)/hooks" }

    init(secret: String) {
        self.secret = secret
    }

    /// Starts the receiver; the first `fail` requests get HTTP 500.
    func start(fail: Int = 0) async throws {
        try await fixture.start("webhook_receiver.py", ["\(fixture.port)", secret, "--record", fixture.record, "--fail", "\(fail)"])
    }

    func stop() { fixture.stop() }

    /// The requests that verified and were accepted.
    var deliveries: [[String: Any]] { fixture.objects("delivered-") }
    /// Every request, with the status it was answered with.
    var requests: [[String: Any]] { fixture.objects("request-") }
    /// Requests whose signature did not verify.
    var rejected: [[String: Any]] { fixture.objects("rejected-") }
}

/// Completion callbacks: the outbox, Standard Webhooks signatures, retries, restarts.
@Suite("Completion callbacks", .timeLimit(.minutes(2)))
struct CallbackTests {
    struct Delivery: Sendable {
        var deliveredAt: Date?
        var failedAt: Date?
        var attempts: Int32
        var lastError: String?
    }

    func delivery(of execution: UUID, in database: PostgresClient) async throws -> Delivery? {
        let rows = try await database.query(
            "SELECT delivered_at, failed_at, attempts, last_error FROM mcp_callback_deliveries WHERE execution_id = \(execution)",
            logger: TestLogging.logger
        ).collect()
        guard let row = rows.first else { return nil }
        let (delivered, failed, attempts, error) = try row.decode((Date?, Date?, Int32, String?).self)
        return Delivery(deliveredAt: delivered, failedAt: failed, attempts: attempts, lastError: error)
    }

    func fast(_ configuration: inout DaemonConfiguration, keys: String) {
        configuration.credentialKeysDirectory = keys
        configuration.callbackRetryBaseDelay = .milliseconds(50)
        configuration.callbackRetryMaxDelay = .milliseconds(200)
    }

    @Test("a receiver that fails twice then accepts gets exactly one verified delivery; every attempt is recorded")
    func retriedUntilAccepted() async throws {
        let secret = WebhookSigner.generateSecret()
        let receiver = WebhookReceiver(secret: secret)
        try await receiver.start(fail: 2)
        defer { receiver.stop() }
        try await withCredentialKeys { keys in
            try await TestDatabase.with { db in
                try await TestDaemon.with(db, configure: { fast(&$0, keys: keys) }) { daemon in
                    let credentials = CredentialStore(database: daemon.database, keysDirectory: keys, logger: daemon.logger)
                    try await credentials.storeCallbackSecret(secret, teamID: daemon.team)
                    let server = try await daemon.registerFastServer()
                    try await daemon.sync(server)
                    let id = try await daemon.enqueue("add", on: server, arguments: #"{"a": 2, "b": 3}"#, callbackURL: receiver.url)
                    let row = try await daemon.finished(id)
                    #expect(row.status == "success")
                    try await eventually(.seconds(30), "the callback to be delivered") {
                        try await delivery(of: id, in: daemon.database)?.deliveredAt != nil
                    }
                    let stored = try #require(try await delivery(of: id, in: daemon.database))
                    #expect(stored.attempts == 3)
                    #expect(stored.failedAt == nil)
                    let attempts = try await daemon.database.query(
                        """
                        SELECT a.attempt, a.status_code FROM mcp_callback_attempts a JOIN mcp_callback_deliveries d ON d.id = a.delivery_id
                        WHERE d.execution_id = \(id) ORDER BY a.attempt
                        """, logger: daemon.logger
                    ).collect().map { try $0.decode((Int32, Int32?).self) }
                    #expect(attempts.map(\.0) == [1, 2, 3])
                    #expect(attempts.map(\.1) == [500, 500, 204])

                    #expect(receiver.rejected.isEmpty, "every signature verified: \(receiver.rejected)")
                    let deliveries = receiver.deliveries
                    #expect(deliveries.count == 1, "exactly one successful delivery")
                    let body = try #require((deliveries.first?["body"] as? String).flatMap {
                        try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
                    })
                    #expect(body["type"] as? String == "execution.finished")
                    let data = try #require(body["data"] as? [String: Any])
                    #expect(data["id"] as? String == id.uuidString.lowercased())
                    #expect(data["status"] as? String == "success")
                    #expect(data["attempts"] as? Int == 1)
                    #expect(((data["result"] as? [String: Any])?["structuredContent"] as? [String: Any])?["sum"] as? Int == 5)
                    // The same webhook-id on every attempt.
                    #expect(Set(receiver.requests.compactMap { $0["webhook_id"] as? String }).count == 1)
                }
            }
        }
    }

    @Test("a delivery queued with the outcome survives a restart before it is sent; the team's default URL and inbox secret apply")
    func survivesRestart() async throws {
        let secret = WebhookSigner.generateSecret()
        let receiver = WebhookReceiver(secret: secret)
        try await receiver.start()
        defer { receiver.stop() }
        try await withCredentialKeys { keys in
            try await TestDatabase.with { db in
                // The first daemon delivers nothing: the outcome and its queued delivery are all it leaves.
                let (id, team) = try await TestDaemon.with(db, configure: { fast(&$0, keys: keys); $0.callbackConcurrency = 0 }) { daemon in
                    // The backend's way, with SQL alone: a default URL, and the secret through the inbox.
                    try await daemon.execute("INSERT INTO mcp_team_callbacks (team_id, default_url) VALUES ('\(daemon.team)', '\(receiver.url)')")
                    try await daemon.execute("INSERT INTO mcp_team_callback_secret_inbox (team_id, secret) VALUES ('\(daemon.team)', '\(secret)')")
                    let server = try await daemon.registerFastServer()
                    try await daemon.sync(server)
                    let id = try await daemon.enqueue("add", on: server, arguments: #"{"a": 1, "b": 1}"#)
                    #expect(try await daemon.finished(id).status == "success")
                    let queued = try await delivery(of: id, in: daemon.database)
                    #expect(queued != nil && queued?.deliveredAt == nil && queued?.attempts == 0)
                    try await eventually(.seconds(10), "the inbox to be emptied") {
                        try await daemon.database.query("SELECT count(*)::int FROM mcp_team_callback_secret_inbox", logger: daemon.logger)
                            .collect()[0].decode(Int.self) == 0
                    }
                    return (id, daemon.team)
                }
                _ = team
                #expect(receiver.requests.isEmpty)
                try await TestDaemon.with(db, configure: { fast(&$0, keys: keys) }) { daemon in
                    try await eventually(.seconds(30), "the next daemon to deliver it") {
                        try await delivery(of: id, in: daemon.database)?.deliveredAt != nil
                    }
                    #expect(receiver.deliveries.count == 1)
                    #expect(receiver.rejected.isEmpty)
                }
            }
        }
    }

    @Test("a team without a signing secret gets no unsigned callback: the attempt records why, and it is retried")
    func noSecret() async throws {
        let receiver = WebhookReceiver(secret: WebhookSigner.generateSecret())
        try await receiver.start()
        defer { receiver.stop() }
        try await withCredentialKeys { keys in
            try await TestDatabase.with { db in
                try await TestDaemon.with(db, configure: { fast(&$0, keys: keys) }) { daemon in
                    let server = try await daemon.registerFastServer()
                    try await daemon.sync(server)
                    let id = try await daemon.enqueue("add", on: server, arguments: #"{"a": 1, "b": 2}"#, callbackURL: receiver.url)
                    _ = try await daemon.finished(id)
                    try await eventually(.seconds(20), "an attempt to be recorded") {
                        (try await delivery(of: id, in: daemon.database)?.lastError) != nil
                    }
                    let stored = try #require(try await delivery(of: id, in: daemon.database))
                    #expect(stored.lastError?.contains("has no callback signing secret") == true, "\(stored.lastError ?? "")")
                    #expect(stored.deliveredAt == nil)
                    #expect(receiver.requests.isEmpty, "nothing unsigned was sent")
                }
            }
        }
    }
}
