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

    @Test("executions of a tool whose schemas are missing share one fetch; then the cache serves them until the revision moves on")
    func revisions() async throws {
        let (a, b) = (UUID(), UUID())
        let stored = Mutex<[UUID: (Int64, String)]>([a: (1, #"{"type": "object", "required": ["a"]}"#), b: (1, #"{"type": "object"}"#)])
        let fetches = Mutex<[UUID]>([])
        let cache = ToolSchemaCache { ids in
            fetches.withLock { $0 += ids }
            return stored.withLock { stored in ids.compactMap { id in stored[id].map { (id: id, revision: $0.0, input: $0.1, output: nil) } } }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<20 { group.addTask { _ = try await cache.schemas(for: execution(tool: a, revision: 1)) } }
            group.addTask { _ = try await cache.schemas(for: execution(tool: b, revision: 1)) }
            try await group.waitForAll()
        }
        #expect(fetches.withLock { $0.filter { $0 == a }.count } == 1, "one fetch for twenty executions of a tool")
        #expect(fetches.withLock { $0.count } == 2)
        #expect(try await cache.schemas(for: execution(tool: a, revision: 1)).inputProblem(argumentsJSON: "{}", toolName: "add") != nil)
        #expect(fetches.withLock { $0.count } == 2, "cached")

        // The schema changes: a claim with the new revision fetches it again.
        stored.withLock { $0[a] = (2, #"{"type": "object"}"#) }
        let fresh = try await cache.schemas(for: execution(tool: a, revision: 2))
        #expect(fresh.revision == 2 && fresh.inputProblem(argumentsJSON: "{}", toolName: "add") == nil)
        #expect(fetches.withLock { $0.count } == 3)
        // A tool that is gone is an error, not a pass.
        await #expect(throws: ToolSchemaCache.ToolGone.self) { _ = try await cache.schemas(for: execution(tool: UUID(), revision: 1)) }
    }

    @Test("a failed fetch fails its execution (to be retried), and the next one asks again")
    func failedFetch() async throws {
        let failing = Mutex(true)
        let cache = ToolSchemaCache { ids in
            if failing.withLock({ $0 }) { throw ToolSchemaCache.ToolGone(description: "database restarting") }
            return ids.map { (id: $0, revision: 1, input: "{}", output: nil) }
        }
        let tool = UUID()
        await #expect(throws: (any Error).self) { _ = try await cache.schemas(for: execution(tool: tool, revision: 1)) }
        failing.withLock { $0 = false }
        #expect(try await cache.schemas(for: execution(tool: tool, revision: 1)).revision == 1)
    }

    @Test("past maxEntries tools the cache starts over, so its memory stays bounded")
    func bounded() async throws {
        let cache = ToolSchemaCache(maxEntries: 3) { ids in ids.map { (id: $0, revision: 1, input: "{}", output: nil) } }
        var tools: [UUID] = []
        for _ in 0..<5 {
            let tool = UUID()
            tools.append(tool)
            _ = try await cache.schemas(for: execution(tool: tool, revision: 1))
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
