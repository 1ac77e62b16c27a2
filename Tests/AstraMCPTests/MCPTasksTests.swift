import Foundation
import Logging
import Testing

@testable import AstraMCP

/// The task messages of spec 2025-11-25 against an in-memory peer.
@Suite("MCP task messages", .timeLimit(.minutes(1)))
struct MCPTasksTests {
    let connection = MCPConnection(serverName: "peer", logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))

    @Test("initialize reads tasks.requests.tools.call; tools.listChanged alone is not task support")
    func capability() async throws {
        for (capabilities, expected) in [
            (#"{"tools":{},"tasks":{"list":{},"cancel":{},"requests":{"tools":{"call":{}}}}}"#, true),
            (#"{"tools":{"listChanged":true},"tasks":{"list":{}}}"#, false),
            (#"{"tasks":{"requests":{"tools":{"call":true}}}}"#, false),
            (#"{"tools":{}}"#, false),
        ] {
            let connection = MCPConnection(serverName: "p", logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
            let peer = InMemoryPeer(connection)
            async let info = connection.initialize(timeout: .seconds(5))
            let request = try await peer.next()
            peer.reply(to: request.id, result: #"{"protocolVersion":"2025-11-25","capabilities":\#(capabilities),"serverInfo":{"name":"s","version":"1"}}"#)
            #expect(try await info.supportsToolTasks == expected, "\(capabilities)")
        }
    }

    @Test("a task-augmented tools/call carries task.ttl and the progress token, and returns the created task")
    func create() async throws {
        let peer = InMemoryPeer(connection)
        async let start = connection.callToolAsTask(
            name: "job", argumentsJSON: #"{"n":1}"#, progressToken: "exec-1", ttl: .seconds(60), timeout: .seconds(5), repeatable: false)
        let request = try await peer.next()
        #expect((request.params?["task"] as? [String: Any])?["ttl"] as? Int == 60_000)
        #expect((request.params?["_meta"] as? [String: Any])?["progressToken"] as? String == "exec-1")
        peer.reply(to: request.id, result: #"{"task":{"taskId":"t-1","status":"working","createdAt":"x","lastUpdatedAt":"x","ttl":60000,"pollInterval":250}}"#)
        guard case .task(let task) = try await start else { Issue.record("no task"); return }
        #expect(task == MCPTask(id: "t-1", status: .working, statusMessage: nil, pollInterval: .milliseconds(250)))
    }

    @Test("a server that answers a task-augmented call directly gives a plain result")
    func answeredDirectly() async throws {
        let peer = InMemoryPeer(connection)
        async let start = connection.callToolAsTask(name: "job", argumentsJSON: "{}", progressToken: "e", ttl: .seconds(1), timeout: .seconds(5), repeatable: true)
        let request = try await peer.next()
        peer.reply(to: request.id, result: #"{"content":[{"type":"text","text":"now"}]}"#)
        guard case .answered(let result) = try await start else { Issue.record("expected a plain answer"); return }
        #expect(!result.isError)
    }

    @Test("tasks/get reads the status; a task without taskId or status is a protocol error")
    func get() async throws {
        let peer = InMemoryPeer(connection)
        async let got = connection.getTask("t-1", timeout: .seconds(5))
        let request = try await peer.next()
        #expect(request.method == "tasks/get")
        #expect(request.params?["taskId"] as? String == "t-1")
        peer.reply(to: request.id, result: #"{"taskId":"t-1","status":"input_required","statusMessage":"need a date"}"#)
        let task = try await got
        #expect(task.status == .inputRequired)
        #expect(task.statusMessage == "need a date")

        let connection = self.connection
        let broken = Task { try await connection.getTask("t-1", timeout: .seconds(5)) }
        let second = try await peer.next()
        peer.reply(to: second.id, result: #"{"status":"working"}"#)
        let error = await #expect(throws: MCPSessionError.self) { try await broken.value }
        #expect(error?.code == .protocolError)
    }

    @Test("tasks/cancel of a task already terminal (-32602) is not a failure; the JSON-RPC code is kept on errors")
    func cancel() async throws {
        let peer = InMemoryPeer(connection)
        async let cancelled: Void = connection.cancelTask("t-1", timeout: .seconds(5))
        let request = try await peer.next()
        #expect(request.method == "tasks/cancel")
        peer.send(#"{"jsonrpc":"2.0","id":\#(request.id!),"error":{"code":-32602,"message":"already completed"}}"#)
        try await cancelled

        let connection = self.connection
        let result = Task { try await connection.taskResult("gone", timeout: .seconds(5)) }
        let second = try await peer.next()
        peer.send(#"{"jsonrpc":"2.0","id":\#(second.id!),"error":{"code":-32602,"message":"unknown task"}}"#)
        let error = await #expect(throws: MCPSessionError.self) { try await result.value }
        #expect(error?.rpcCode == -32602)
    }

    @Test("a server's elicitation is declined at once: there is no user to ask")
    func elicitationDeclined() async throws {
        let peer = InMemoryPeer(connection)
        peer.send(#"{"jsonrpc":"2.0","id":"q1","method":"elicitation/create","params":{"message":"Which date?","requestedSchema":{"type":"object"}}}"#)
        let answer = try await peer.next()
        #expect(answer.object["id"] as? String == "q1")
        #expect((answer.object["result"] as? [String: Any])?["action"] as? String == "decline")
    }

    @Test("a held progress token keeps reaching the handler after its request ended, until released")
    func heldToken() async throws {
        final class Count: @unchecked Sendable {
            let lock = NSLock()
            var value = 0
        }
        let count = Count()
        var handlers = MCPConnection.Handlers()
        handlers.progress = { _, _, _, _ in count.lock.withLock { count.value += 1 } }
        let connection = MCPConnection(serverName: "p", logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), handlers: handlers)
        let peer = InMemoryPeer(connection)
        connection.holdProgressToken("task-token")
        peer.send(#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"task-token","progress":1}}"#)
        connection.releaseProgressToken("task-token")
        peer.send(#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"task-token","progress":2}}"#)
        #expect(count.lock.withLock { count.value } == 1)
    }
}
