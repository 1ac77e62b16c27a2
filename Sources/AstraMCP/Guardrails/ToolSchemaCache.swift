import Foundation
import Synchronization

/// Every tool's compiled schemas, by tool id, for the revision last seen: compiling a schema
/// costs far more than validating with it, and a claim names each execution's tool and schema
/// revision, so a schema is fetched and compiled once per change, not once per call.
///
/// The claim loop loads what a batch lacks in one statement (``load(for:)``); an execution whose
/// schemas are still missing fetches them alone. Bounded: past `maxEntries` tools it starts over.
final class ToolSchemaCache: Sendable {
    private let entries = Mutex<[UUID: ToolSchemas]>([:])
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
        entries.withLock { entries in
            guard let schemas = entries[execution.toolID], schemas.revision >= execution.schemaRevision else { return nil }
            return schemas
        }
    }

    /// Fetches and compiles, in one statement, the schemas the executions lack.
    func load(for executions: [ClaimedExecution]) async throws {
        let missing = Array(Set(executions.filter { cached($0) == nil }.map(\.toolID)))
        guard !missing.isEmpty else { return }
        let rows = try await fetch(missing)
        // Compiled outside the lock: another batch's lookups do not wait for it.
        let compiled = rows.map { ($0.id, ToolSchemas(revision: $0.revision, inputJSON: $0.input, outputJSON: $0.output)) }
        entries.withLock { entries in
            if entries.count + compiled.count > maxEntries { entries.removeAll(keepingCapacity: true) }
            for (id, schemas) in compiled where (entries[id]?.revision ?? .min) <= schemas.revision { entries[id] = schemas }
        }
    }

    /// The schemas of `execution`'s tool: cached, or fetched now.
    /// - Throws: When the database cannot be asked, or the tool is gone.
    func schemas(for execution: ClaimedExecution) async throws -> ToolSchemas {
        if let schemas = cached(execution) { return schemas }
        try await load(for: [execution])
        guard let schemas = entries.withLock({ $0[execution.toolID] }) else {
            throw ToolGone(description: "tool '\(execution.toolName)' is no longer in mcp_tools")
        }
        return schemas
    }

    struct ToolGone: Error, CustomStringConvertible {
        var description: String
    }
}
