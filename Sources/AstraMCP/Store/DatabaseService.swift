import PostgresNIO
import ServiceLifecycle

/// Runs the PostgreSQL client's connection pool, and holds back whoever uses it until it runs:
/// a lease taken before `PostgresClient.run()` is served, but logs a warning every start.
public struct DatabaseService: Service, CustomStringConvertible {
    public let client: PostgresClient
    private let running = AsyncEvent()

    public init(client: PostgresClient) {
        self.client = client
    }

    public func run() async {
        running.signal()
        await client.run()
    }

    /// Returns once ``run()`` has started (or the calling task is cancelled).
    public func waitUntilRunning() async {
        await running.wait()
    }

    /// `service`, whose `run()` starts once the database runs.
    func gating(_ service: any Service) -> any Service {
        StartsAfterDatabase(service: service, database: self)
    }

    public var description: String { "PostgresClient" }
}

/// A service started once the database runs.
private struct StartsAfterDatabase: Service, CustomStringConvertible {
    let service: any Service
    let database: DatabaseService

    func run() async throws {
        await database.waitUntilRunning()
        try await service.run()
    }

    var description: String { String(describing: service) }
}
