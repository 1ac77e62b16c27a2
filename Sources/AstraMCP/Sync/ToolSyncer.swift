import Logging
import PostgresNIO

/// Copies a server's `tools/list` — every page — into `mcp_tools`, and records the connection
/// outcome on the server's row.
public struct ToolSyncer: Sendable {
    let database: PostgresClient
    let pool: SessionPool
    let logger: Logger
    var timeout: Duration = .seconds(30)

    public init(database: PostgresClient, pool: SessionPool, logger: Logger) {
        self.database = database
        self.pool = pool
        self.logger = logger
    }

    /// What one sync did.
    public struct Result: Sendable {
        public var server: String
        public var toolsOffered: Int
        public var toolsRemoved: Int
    }

    /// Syncs one server. Failures are recorded on the server's row and rethrown.
    @discardableResult
    public func sync(_ server: ServerDescriptor) async throws -> Result {
        do {
            let session = try await pool.session(for: server)
            let tools = try await session.connection.listTools(timeout: timeout)
            var offered: Int32 = 0
            var removed: Int32 = 0
            let statement = SyncToolsStatement(serverID: server.id, toolsJSON: "[" + tools.joined(separator: ",") + "]")
            for try await row in try await database.execute(statement, logger: logger) { (offered, removed) = row }
            try await record(server, status: "connected", error: nil)
            logger.info("tools synced", metadata: ["server": "\(server.name)", "offered": "\(offered)", "removed": "\(removed)"])
            return Result(server: server.name, toolsOffered: Int(offered), toolsRemoved: Int(removed))
        } catch {
            let message = (error as? MCPSessionError)?.message ?? "\(error)"
            logger.error("tool sync failed", metadata: ["server": "\(server.name)", "error": "\(message)"])
            try? await record(server, status: "error", error: String(message.prefix(1000)))
            throw error
        }
    }

    /// Syncs every active server (or the one named), one after another; returns each result.
    public func syncAll(only nameOrID: String? = nil) async throws -> [Swift.Result<Result, any Error>] {
        var servers: [ServerDescriptor] = []
        for try await server in try await database.execute(ActiveServersStatement(nameOrID: nameOrID), logger: logger) {
            servers.append(server)
        }
        var results: [Swift.Result<Result, any Error>] = []
        for server in servers {
            do { results.append(.success(try await sync(server))) } catch { results.append(.failure(error)) }
        }
        return results
    }

    private func record(_ server: ServerDescriptor, status: String, error: String?) async throws {
        for try await _ in try await database.execute(RecordConnectionStatement(serverID: server.id, status: status, lastError: error), logger: logger) {}
    }
}
