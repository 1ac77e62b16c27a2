import Foundation
import Synchronization

/// Every tool's compiled schemas, by tool id, for the revision last seen: compiling a schema
/// costs far more than validating with it, and a claim names each execution's tool and schema
/// revision, so a schema is fetched and compiled once per change, not once per call.
///
/// Executions whose tool's schemas are missing share one fetch per tool: the first asks, the
/// others wait for its answer, so a burst of executions of a new tool costs one statement, and
/// a database that answers slowly (a restart) is never asked the same thing many times over while
/// the lease heartbeat needs a connection. Bounded: past `maxEntries` tools it starts over.
final class ToolSchemaCache: Sendable {
    private struct State {
        var entries: [UUID: ToolSchemas] = [:]
        /// Fetches under way, by tool: signalled when each ends, however it ended.
        var loading: [UUID: AsyncEvent] = [:]
    }

    private let state = Mutex(State())
    private let fetch: @Sendable ([UUID]) async throws -> [(id: UUID, revision: Int64, input: String, output: String?)]
    let maxEntries: Int

    init(maxEntries: Int = 10_000, fetch: @escaping @Sendable ([UUID]) async throws -> [(id: UUID, revision: Int64, input: String, output: String?)]) {
        self.maxEntries = maxEntries
        self.fetch = fetch
    }

    convenience init(store: QueueStore) {
        self.init { ids in try await store.toolSchemas(ids) }
    }

    /// The schemas `execution` is to be checked with, if cached for its revision.
    func cached(_ execution: ClaimedExecution) -> ToolSchemas? {
        state.withLock { Self.current($0.entries[execution.toolID], for: execution) }
    }

    private static func current(_ schemas: ToolSchemas?, for execution: ClaimedExecution) -> ToolSchemas? {
        guard let schemas, schemas.revision >= execution.schemaRevision else { return nil }
        return schemas
    }

    /// The schemas of `execution`'s tool: cached, or fetched now (once for all who need them).
    /// - Throws: When the database cannot be asked, or the tool is gone.
    func schemas(for execution: ClaimedExecution) async throws -> ToolSchemas {
        let tool = execution.toolID
        // At most twice: a fetch someone else made may have failed, then this one asks itself.
        for _ in 0..<2 {
            enum Step { case done(ToolSchemas), wait(AsyncEvent), load(AsyncEvent) }
            let step = state.withLock { state -> Step in
                if let schemas = Self.current(state.entries[tool], for: execution) { return .done(schemas) }
                if let loading = state.loading[tool] { return .wait(loading) }
                let event = AsyncEvent()
                state.loading[tool] = event
                return .load(event)
            }
            switch step {
            case .done(let schemas):
                return schemas
            case .wait(let event):
                await event.wait()
            case .load(let event):
                defer {
                    _ = state.withLock { $0.loading.removeValue(forKey: tool) }
                    event.signal()
                }
                let rows = try await fetch([tool])
                let compiled = rows.map { ($0.id, ToolSchemas(revision: $0.revision, inputJSON: $0.input, outputJSON: $0.output)) }
                state.withLock { state in
                    if state.entries.count + compiled.count > maxEntries { state.entries.removeAll(keepingCapacity: true) }
                    for (id, schemas) in compiled where (state.entries[id]?.revision ?? .min) <= schemas.revision { state.entries[id] = schemas }
                }
                guard let schemas = cached(execution) else {
                    throw ToolGone(description: "tool '\(execution.toolName)' is no longer in mcp_tools")
                }
                return schemas
            }
        }
        if let schemas = cached(execution) { return schemas }
        throw ToolGone(description: "the schemas of tool '\(execution.toolName)' could not be read")
    }

    struct ToolGone: Error, CustomStringConvertible {
        var description: String
    }
}
