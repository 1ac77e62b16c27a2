import Logging

/// Copies a server's `tools/list` — every page — into `mcp_tools`, and records the connection
/// outcome on the server's row.
public struct ToolSyncer: Sendable {
    let store: ServerStore
    let pool: SessionPool
    let logger: Logger
    var timeout: Duration = .seconds(30)

    public init(store: ServerStore, pool: SessionPool, logger: Logger) {
        self.store = store
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
            let (offered, removed) = try await store.syncTools(serverID: server.id, tools: tools)
            try await store.recordConnection(serverID: server.id, status: "connected", error: nil)
            logger.info("tools synced", metadata: server.logMetadata.merging(["offered": "\(offered)", "removed": "\(removed)"]) { $1 })
            return Result(server: server.name, toolsOffered: offered, toolsRemoved: removed)
        } catch {
            let message = (error as? MCPSessionError)?.message ?? "\(error)"
            logger.error("tool sync failed", metadata: server.logMetadata.merging(["error": "\(message)"]) { $1 })
            try? await store.recordConnection(serverID: server.id, status: "error", error: String(message.prefix(1000)))
            throw error
        }
    }

    /// Syncs every active server (or the one named), one after another; returns each result.
    public func syncAll(only nameOrID: String? = nil) async throws -> [Swift.Result<Result, any Error>] {
        let servers = try await store.activeServers(nameOrID: nameOrID)
        var results: [Swift.Result<Result, any Error>] = []
        for server in servers {
            do { results.append(.success(try await sync(server))) } catch { results.append(.failure(error)) }
        }
        return results
    }
}
