import Foundation
import Synchronization
import Testing

@testable import AstraMCP

@Suite("ToolSchemaCache")
struct ToolSchemaCacheTests {
    private func execution(tool: UUID, revision: Int64) -> ClaimedExecution {
        ClaimedExecution(
            id: UUID(), argumentsJSON: #"{"a": 1}"#, toolName: "add", toolEnabled: true, toolRemoved: false,
            timeoutSeconds: 30, maxDurationSeconds: nil, cancelRequested: false, taskID: nil, taskSupport: .forbidden,
            server: ServerDescriptor(id: UUID(), name: "calc", serverType: "stdio", isActive: true, configJSON: "{}"),
            attempt: 1, leaseToken: UUID(), maxAttempts: nil, idempotent: false, enqueuedAt: Date(), toolID: tool, schemaRevision: revision)
    }

    @Test("a batch's missing schemas are fetched in one call, then served from the cache until the revision moves on")
    func revisions() async throws {
        let (a, b) = (UUID(), UUID())
        let stored = Mutex<[UUID: (Int64, String)]>([a: (1, #"{"type": "object", "required": ["a"]}"#), b: (1, #"{"type": "object"}"#)])
        let fetches = Mutex<[[UUID]]>([])
        let cache = ToolSchemaCache { ids in
            fetches.withLock { $0.append(ids.sorted { $0.uuidString < $1.uuidString }) }
            return stored.withLock { stored in ids.compactMap { id in stored[id].map { (id: id, revision: $0.0, input: $0.1, output: nil) } } }
        }
        try await cache.load(for: [execution(tool: a, revision: 1), execution(tool: a, revision: 1), execution(tool: b, revision: 1)])
        #expect(fetches.withLock { $0.count } == 1 && fetches.withLock { $0[0].count } == 2, "one fetch for both tools")
        try await cache.load(for: [execution(tool: a, revision: 1)])
        #expect(fetches.withLock { $0.count } == 1, "cached")
        #expect(try await cache.schemas(for: execution(tool: a, revision: 1)).inputProblem(argumentsJSON: "{}", toolName: "add") != nil)

        // The schema changes: a claim with the new revision fetches it again.
        stored.withLock { $0[a] = (2, #"{"type": "object"}"#) }
        let fresh = try await cache.schemas(for: execution(tool: a, revision: 2))
        #expect(fresh.revision == 2 && fresh.inputProblem(argumentsJSON: "{}", toolName: "add") == nil)
        #expect(fetches.withLock { $0.count } == 2)
        // A tool that is gone is an error, not a pass.
        await #expect(throws: ToolSchemaCache.ToolGone.self) { _ = try await cache.schemas(for: execution(tool: UUID(), revision: 1)) }
    }

    @Test("past maxEntries tools the cache starts over, so its memory stays bounded")
    func bounded() async throws {
        let cache = ToolSchemaCache(maxEntries: 3) { ids in ids.map { (id: $0, revision: 1, input: "{}", output: nil) } }
        var tools: [UUID] = []
        for _ in 0..<5 {
            let tool = UUID()
            tools.append(tool)
            try await cache.load(for: [execution(tool: tool, revision: 1)])
        }
        #expect(tools.filter { cache.cached(execution(tool: $0, revision: 1)) != nil }.count <= 3)
    }

    @Test("output: a missing structuredContent is named, a valid one passes, a tool without outputSchema is not checked")
    func output() {
        let schemas = ToolSchemas(revision: 1, inputJSON: "{}", outputJSON: #"{"type": "object", "properties": {"sum": {"type": "integer"}}}"#)
        #expect(schemas.outputProblem(resultJSON: #"{"content": [], "structuredContent": {"sum": 3}}"#, toolName: "add") == nil)
        #expect(schemas.outputProblem(resultJSON: #"{"content": []}"#, toolName: "add")
            == "tool 'add' declares an outputSchema, but its result has no structuredContent")
        #expect(ToolSchemas(revision: 1, inputJSON: "{}", outputJSON: nil).outputProblem(resultJSON: #"{"content": []}"#, toolName: "add") == nil)
    }
}
