import Foundation
import Logging
import Testing

@testable import AstraMCP

@Suite("MCPConnection with an in-memory peer", .timeLimit(.minutes(1)))
struct MCPConnectionTests {
    let connection = MCPConnection(serverName: "peer", logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))

    @Test("a response is matched to its request by id and its result kept verbatim")
    func responseMatchedByID() async throws {
        let peer = InMemoryPeer(connection)
        async let response = connection.request("tools/list", params: #"{"cursor":"c1"}"#, timeout: nil)
        let request = try await peer.next()
        #expect(request.method == "tools/list")
        #expect(request.object["jsonrpc"] as? String == "2.0")
        #expect(request.params?["cursor"] as? String == "c1")
        peer.send(#"{"jsonrpc":"2.0","result":{ "tools" : [] },"id":\#(try #require(request.id))}"#)
        #expect(try await response.resultText == #"{ "tools" : [] }"#)
        #expect(connection.pendingCount == 0)
    }

    @Test("concurrent requests answered out of order each get their own reply")
    func outOfOrder() async throws {
        let peer = InMemoryPeer(connection)
        let connection = self.connection
        try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for n in 0..<5 {
                group.addTask {
                    let response = try await connection.request("echo", params: #"{"n":\#(n)}"#, timeout: .seconds(10))
                    return (n, response.resultText)
                }
            }
            let requests = try await peer.next(5)
            #expect(Set(requests.compactMap(\.id)).count == 5, "ids are unique")
            for request in requests.reversed() {
                let n = try #require(request.params?["n"] as? Int)
                peer.reply(to: request.id, result: #"{"n":\#(n)}"#)
            }
            var answered = 0
            for try await (n, result) in group {
                #expect(result == #"{"n":\#(n)}"#)
                answered += 1
            }
            #expect(answered == 5)
        }
    }

    @Test("a JSON-RPC error reply is thrown as remoteError with the server's message and code")
    func remoteError() async throws {
        let peer = InMemoryPeer(connection)
        let connection = self.connection
        let response = Task { try await connection.request("tools/call", params: "{}", timeout: nil) }
        let request = try await peer.next()
        peer.send(#"{"jsonrpc":"2.0","id":\#(request.id!),"error":{"code":-32602,"message":"Unknown tool: nope"}}"#)
        let error = await #expect(throws: MCPSessionError.self) { try await response.value }
        #expect(error?.code == .remoteError)
        #expect(error?.message.contains("Unknown tool: nope") == true)
        #expect(error?.message.contains("-32602") == true)
    }

    @Test("the server's ping is answered with an empty result under the server's id")
    func answersPing() async throws {
        let peer = InMemoryPeer(connection)
        peer.send(#"{"jsonrpc":"2.0","id":"srv-1","method":"ping"}"#)
        let reply = try await peer.next()
        #expect(reply.object["id"] as? String == "srv-1")
        #expect((reply.object["result"] as? [String: Any])?.isEmpty == true)
        #expect(reply.object["error"] == nil)
    }

    @Test("a server request for a client feature we do not offer gets -32601 at once")
    func refusesUnknownServerRequest() async throws {
        let peer = InMemoryPeer(connection)
        peer.send(#"{"jsonrpc":"2.0","id":9,"method":"sampling/createMessage","params":{"messages":[]}}"#)
        let reply = try await peer.next()
        #expect(reply.id == 9)
        let error = try #require(reply.object["error"] as? [String: Any])
        #expect(error["code"] as? Int == -32601)
        #expect((error["message"] as? String)?.contains("sampling/createMessage") == true)
    }

    @Test("notifications and garbage are ignored; progress reaches the handler only for a pending request's token")
    func notifications() async throws {
        final class Box: @unchecked Sendable {
            let lock = NSLock()
            var progress: [(String, Double, Double?, String?)] = []
        }
        let box = Box()
        var handlers = MCPConnection.Handlers()
        handlers.progress = { token, progress, total, message in
            box.lock.withLock { box.progress.append((token, progress, total, message)) }
        }
        let connection = MCPConnection(serverName: "p", logger: Logger(label: "test"), handlers: handlers)
        let peer = InMemoryPeer(connection)
        let call = Task { try await connection.request("tools/call", params: "{}", timeout: nil, progressToken: "tok") }
        let request = try await peer.next()
        peer.send("not json")
        peer.send("")
        peer.send(#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}"#)
        peer.send(#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"tok","progress":0.5,"total":2,"message":"half"}}"#)
        peer.send(#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"made-up","progress":1}}"#)
        peer.send(#"{"jsonrpc":"2.0","id":12345,"result":{}}"#)  // a reply nobody waits for
        peer.reply(to: request.id, result: "{}")
        _ = try await call.value
        // Progress after the reply belongs to no pending request.
        peer.send(#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"tok","progress":2}}"#)
        let progress = box.lock.withLock { box.progress }
        #expect(progress.count == 1)
        #expect(progress.first?.0 == "tok")
        #expect(progress.first?.1 == 0.5)
        #expect(progress.first?.2 == 2)
        #expect(progress.first?.3 == "half")
        #expect(connection.pendingCount == 0)
        #expect(!connection.isClosed)
    }

    @Test("progress moves a request's idle deadline, never past its hard cap; expiry says which limit it met")
    func deadlinesFollowProgress() async throws {
        let peer = InMemoryPeer(connection)
        let connection = self.connection
        let idle = Task { try await connection.request("tools/call", params: "{}", timeout: .seconds(10), maxDuration: .seconds(3600), progressToken: "a") }
        let a = try #require(try await peer.next().id)
        let capped = Task { try await connection.request("tools/call", params: "{}", timeout: .seconds(10), maxDuration: .seconds(12), progressToken: "b") }
        let b = try #require(try await peer.next().id)
        let (a0, b0) = (try #require(connection.deadline(ofRequest: a)), try #require(connection.deadline(ofRequest: b)))

        peer.send(#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"a","progress":1}}"#)
        peer.send(#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"b","progress":1}}"#)
        let (a1, b1) = (try #require(connection.deadline(ofRequest: a)), try #require(connection.deadline(ofRequest: b)))
        #expect(a1 > a0, "progress starts the idle timeout again")
        #expect(b1 > b0)
        #expect(b1 <= b0.advanced(by: .seconds(2)), "never past the 12 s cap")

        // Time passes: the sweeper is driven with the instants it would see.
        connection.expireOverdue(now: a1)
        let idleError = await #expect(throws: MCPSessionError.self) { try await idle.value }
        #expect(idleError?.code == .timeout)
        #expect(idleError?.timeoutLimit == .idle)
        connection.expireOverdue(now: b0.advanced(by: .seconds(2)))
        let cappedError = await #expect(throws: MCPSessionError.self) { try await capped.value }
        #expect(cappedError?.timeoutLimit == .maxDuration)
    }

    @Test("a cancel that comes before its request is made fails that request at once, never sent")
    func cancelBeforeRequest() async throws {
        let connection = self.connection
        #expect(!connection.cancel(progressToken: "exec-early", reason: "the user asked"))
        let error = await #expect(throws: MCPSessionError.self) {
            try await connection.callTool(name: "wait", argumentsJSON: "{}", progressToken: "exec-early", timeout: .seconds(5))
        }
        #expect(error?.code == .cancelled)
        #expect(error?.requestNeverSent == true)
        #expect(connection.pendingCount == 0)
        // Only that one request: the token may be used again.
        let peer = InMemoryPeer(connection)
        let again = Task { try await connection.callTool(name: "wait", argumentsJSON: "{}", progressToken: "exec-early", timeout: .seconds(5)) }
        let request = try await peer.next()
        peer.reply(to: request.id, result: #"{"content":[]}"#)
        _ = try await again.value
    }

    @Test("cancel(progressToken:) tells the server notifications/cancelled with the request id; a late reply is ignored")
    func cancelByProgressToken() async throws {
        let peer = InMemoryPeer(connection)
        let connection = self.connection
        let call = Task { try await connection.callTool(name: "wait", argumentsJSON: "{}", progressToken: "exec-9", timeout: .seconds(60)) }
        let request = try await peer.next()
        #expect(connection.cancel(progressToken: "exec-9", reason: "the user asked"))
        #expect(!connection.cancel(progressToken: "exec-9", reason: "again"), "only once")
        let error = await #expect(throws: MCPSessionError.self) { try await call.value }
        #expect(error?.code == .cancelled)
        let cancelled = try await peer.next()
        #expect(cancelled.method == "notifications/cancelled")
        #expect(cancelled.params?["requestId"] as? Int == request.id)
        #expect(cancelled.params?["reason"] as? String == "the user asked")
        peer.reply(to: request.id, result: #"{"content":[]}"#)
        #expect(connection.pendingCount == 0)
        #expect(!connection.isClosed)
    }

    @Test("a timeout fails the request with .timeout and tells the server notifications/cancelled")
    func timeout() async throws {
        let peer = InMemoryPeer(connection)
        let connection = self.connection
        let sweeper = Task { await connection.runTimeoutSweeper() }
        defer { sweeper.cancel() }
        let started = ContinuousClock.now
        let response = Task { try await connection.request("tools/call", params: #"{"name":"slow"}"#, timeout: .milliseconds(200)) }
        let request = try await peer.next()
        let error = await #expect(throws: MCPSessionError.self) { try await response.value }
        #expect(error?.code == .timeout)
        #expect(ContinuousClock.now - started >= .milliseconds(200))
        let cancelled = try await peer.next()
        #expect(cancelled.method == "notifications/cancelled")
        #expect(cancelled.id == nil)
        #expect(cancelled.params?["requestId"] as? Int == request.id)
        #expect(connection.pendingCount == 0)
        // A late reply is dropped quietly.
        peer.reply(to: request.id, result: "{}")
        #expect(!connection.isClosed)
    }

    @Test("the sweeper sleeps until the earliest deadline: a shorter timeout after a longer one still fires on time")
    func earlierDeadlineWakesSweeper() async throws {
        let peer = InMemoryPeer(connection)
        let connection = self.connection
        let sweeper = Task { await connection.runTimeoutSweeper() }
        defer { sweeper.cancel() }
        let long = Task { try await connection.request("tools/call", params: "{}", timeout: .seconds(60)) }
        _ = try await peer.next()
        let short = Task { try await connection.request("tools/call", params: "{}", timeout: .milliseconds(100)) }
        _ = try await peer.next()
        let error = await #expect(throws: MCPSessionError.self) { try await short.value }
        #expect(error?.code == .timeout)
        #expect(connection.pendingCount == 1, "the long one still waits")
        long.cancel()
        _ = try? await long.value
    }

    @Test("close() fails every pending request at once, and later requests at once")
    func closeFailsPending() async throws {
        let peer = InMemoryPeer(connection)
        let connection = self.connection
        let failures = Task {
            await withTaskGroup(of: MCPSessionError?.self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        do {
                            _ = try await connection.request("tools/call", params: "{}", timeout: nil)
                            return nil
                        } catch {
                            return error as? MCPSessionError
                        }
                    }
                }
                return await group.reduce(into: [MCPSessionError?]()) { $0.append($1) }
            }
        }
        _ = try await peer.next(3)
        #expect(connection.pendingCount == 3)
        connection.close(MCPSessionError(.disconnected, "server 'peer' exited"))
        let errors = await failures.value
        #expect(errors.count == 3)
        #expect(errors.allSatisfy { $0?.code == .disconnected && $0?.message == "server 'peer' exited" })
        #expect(errors.allSatisfy { $0?.requestNeverSent == false }, "the transport took them: they may have reached the server")
        #expect(connection.pendingCount == 0)
        #expect(connection.isClosed)
        #expect(await connection.nextOutbound() == nil)

        let late = await #expect(throws: MCPSessionError.self) {
            try await connection.request("ping", params: nil, timeout: nil)
        }
        #expect(late?.code == .disconnected)
        // The first reason wins.
        connection.close(MCPSessionError(.protocolError, "other"))
        #expect(connection.closedReason?.code == .disconnected)
    }

    @Test("requests the transport never took fail as never sent when the connection closes")
    func neverSentOnClose() async throws {
        let connection = self.connection
        let failure = Task {
            do {
                _ = try await connection.request("tools/call", params: "{}", timeout: nil)
                return nil as MCPSessionError?
            } catch {
                return error as? MCPSessionError
            }
        }
        while connection.pendingCount < 1 { await Task.yield() }
        connection.close(MCPSessionError(.disconnected, "server 'peer' exited"))
        let error = try #require(await failure.value)
        #expect(error.requestNeverSent)
    }

    @Test("an oversized reply fails only the request its id names; without an id the connection closes")
    func oversizedReply() async throws {
        let peer = InMemoryPeer(connection)
        let connection = self.connection
        async let big = connection.request("tools/call", params: "{}", timeout: nil)
        let bigID = try #require(try await peer.next().id)
        async let small = connection.request("tools/call", params: "{}", timeout: nil)
        let ids = [bigID, try #require(try await peer.next().id)]
        Array(#"{"jsonrpc":"2.0","id":\#(ids[0]),"result":{"content":[{"type":"text","text":"xxxx"#.utf8).withUnsafeBytes {
            connection.receiveOversized(prefix: $0, size: 1 << 30)
        }
        var failure: MCPSessionError?
        do { _ = try await big } catch { failure = error as? MCPSessionError }
        #expect(failure?.code == .messageTooLarge)
        #expect(!connection.isClosed)
        peer.send(#"{"jsonrpc":"2.0","id":\#(ids[1]),"result":{}}"#)
        #expect(try await small.resultText == "{}")
        Array(#"{"result":{"content":[{"#.utf8).withUnsafeBytes { connection.receiveOversized(prefix: $0, size: 1 << 30) }
        #expect(connection.isClosed)
    }

    @Test("an oversized message's first bytes say whose reply it is; nested ids, ids in strings, cut-off digits and server messages are not replies")
    func classifyOversized() {
        func kind(_ text: String) -> MCPConnection.OversizedMessage {
            Array(text.utf8).withUnsafeBytes { MCPConnection.classifyOversized($0) }
        }
        #expect(kind(#"{"jsonrpc":"2.0","id":42,"result":{"#) == .response(42))
        #expect(kind("{ \"id\" :\n 7 , \"result\":") == .response(7))
        #expect(kind(#"{"result":{"id":3,"x":"y"},"id":9}"#) == .response(9))
        #expect(kind(#"{"result":{"id":3,"content":[{"text":"\"id\":5"#) == .unknown, "the id is beyond the kept bytes")
        #expect(kind(#"{"jsonrpc":"2.0","id":12"#) == .unknown, "digits cut off at the end may be the start of a longer id")
        #expect(kind(#"{"jsonrpc":"2.0","id":"abc","result":"#) == .unknown)
        #expect(kind(#"{"jsonrpc":"2.0","id":3,"method":"sampling/createMessage","params":{"#) == .serverMessage(id: 3))
        #expect(kind(#"{"jsonrpc":"2.0","method":"notifications/message","params":{"data":"#) == .serverMessage(id: nil))
    }

    @Test("initialize with a supported version returns the server's info and sends notifications/initialized")
    func initialize() async throws {
        let peer = InMemoryPeer(connection)
        async let info = connection.initialize(timeout: .seconds(5))
        let request = try await peer.next()
        #expect(request.method == "initialize")
        #expect(request.params?["protocolVersion"] as? String == "2025-11-25")
        #expect((request.params?["clientInfo"] as? [String: Any])?["name"] as? String == "astra-mcpd")
        peer.reply(
            to: request.id,
            result: #"{"protocolVersion":"2025-06-18","capabilities":{"tools":{"listChanged":true}},"serverInfo":{"name":"srv","version":"1.2"}}"#)
        let server = try await info
        #expect(server == MCPServerInfo(protocolVersion: "2025-06-18", name: "srv", version: "1.2", toolsListChanged: true))
        let initialized = try await peer.next()
        #expect(initialized.method == "notifications/initialized")
        #expect(initialized.id == nil)
    }

    @Test("initialize rejects an unsupported protocol version and closes the connection")
    func initializeUnsupportedVersion() async throws {
        let peer = InMemoryPeer(connection)
        let connection = self.connection
        let info = Task { try await connection.initialize(timeout: .seconds(5)) }
        let request = try await peer.next()
        peer.reply(to: request.id, result: #"{"protocolVersion":"1999-01-01","capabilities":{},"serverInfo":{"name":"old","version":"0"}}"#)
        let error = await #expect(throws: MCPSessionError.self) { try await info.value }
        #expect(error?.code == .unsupportedProtocolVersion)
        #expect(error?.message.contains("1999-01-01") == true)
        #expect(connection.isClosed)
    }

    @Test("callTool sends name, arguments and progress token; isError true gives the content text")
    func callToolError() async throws {
        let peer = InMemoryPeer(connection)
        async let result = connection.callTool(
            name: "fail", argumentsJSON: #"{"message":"boom"}"#, progressToken: "exec-1", timeout: .seconds(5))
        let request = try await peer.next()
        #expect(request.method == "tools/call")
        #expect(request.params?["name"] as? String == "fail")
        #expect((request.params?["arguments"] as? [String: Any])?["message"] as? String == "boom")
        #expect((request.params?["_meta"] as? [String: Any])?["progressToken"] as? String == "exec-1")
        let body = #"{"content":[{"type":"text","text":"boom"},{"type":"text","text":"again"}],"isError":true}"#
        peer.reply(to: request.id, result: body)
        let outcome = try await result
        #expect(outcome.isError)
        #expect(outcome.errorText == "boom\nagain")
        #expect(outcome.resultJSON == body)
    }

    @Test("callTool success keeps the result verbatim, without errorText")
    func callToolSuccess() async throws {
        let peer = InMemoryPeer(connection)
        async let result = connection.callTool(name: "add", argumentsJSON: #"{"a":1,"b":2}"#, progressToken: nil, timeout: .seconds(5))
        let request = try await peer.next()
        #expect(request.params?["_meta"] == nil)
        let body = #"{"content":[{"type":"text","text":"3"}],"structuredContent":{"sum":3},"isError":false}"#
        peer.reply(to: request.id, result: body)
        let outcome = try await result
        #expect(!outcome.isError)
        #expect(outcome.errorText == nil)
        #expect(outcome.resultJSON == body)
    }

    @Test("listTools follows nextCursor through every page")
    func listToolsPaginated() async throws {
        let peer = InMemoryPeer(connection)
        async let tools = connection.listTools(timeout: .seconds(5))
        let first = try await peer.next()
        #expect(first.params == nil)
        peer.reply(to: first.id, result: #"{"tools":[{"name":"a"},{"name":"b"}],"nextCursor":"p2"}"#)
        let second = try await peer.next()
        #expect(second.params?["cursor"] as? String == "p2")
        peer.reply(to: second.id, result: #"{"tools":[{"name":"c","inputSchema":{"type":"object"}}]}"#)
        #expect(try await tools == [#"{"name":"a"}"#, #"{"name":"b"}"#, #"{"name":"c","inputSchema":{"type":"object"}}"#])
    }
}
