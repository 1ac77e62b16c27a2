import Foundation
import Testing

@testable import AstraMCP

/// The server side of an ``MCPConnection`` in memory: reads what the connection writes
/// (``MCPConnection/nextOutbound()``) and answers by feeding lines to
/// ``MCPConnection/receive(line:)``. Used from one test task.
final class InMemoryPeer {
    /// One JSON-RPC message the connection wrote.
    struct Message {
        var text: String
        var object: [String: Any]

        var method: String? { object["method"] as? String }
        var id: Int? { object["id"] as? Int }
        var params: [String: Any]? { object["params"] as? [String: Any] }
    }

    struct NoMessage: Error, CustomStringConvertible {
        var description: String
    }

    let connection: MCPConnection
    private var buffered: [Message] = []

    init(_ connection: MCPConnection) {
        self.connection = connection
    }

    /// The next message the connection wrote; fails the test instead of hanging.
    func next(timeout: Duration = .seconds(5)) async throws -> Message {
        while buffered.isEmpty {
            let connection = self.connection
            let chunk: [UInt8]?? = await withTaskGroup(of: [UInt8]??.self) { group in
                group.addTask { .some(await connection.nextOutbound()) }
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    return .none
                }
                let first = await group.next()!
                group.cancelAll()
                return first
            }
            guard let chunk else { throw NoMessage(description: "no message within \(timeout)") }
            guard let chunk else { throw NoMessage(description: "the connection is closed") }
            for line in chunk.split(separator: UInt8(ascii: "\n")) {
                let text = String(decoding: line, as: UTF8.self)
                let object = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any]
                buffered.append(Message(text: text, object: try #require(object, "not a JSON object: \(text)")))
            }
            #expect(chunk.last == UInt8(ascii: "\n"), "every message ends with a newline")
        }
        return buffered.removeFirst()
    }

    /// The next `count` messages.
    func next(_ count: Int) async throws -> [Message] {
        var messages: [Message] = []
        for _ in 0..<count { messages.append(try await next()) }
        return messages
    }

    /// Feeds one line to the connection, as if the server wrote it.
    func send(_ line: String) {
        Array(line.utf8).withUnsafeBytes { connection.receive(line: $0) }
    }

    /// Answers request `id` with `result` (JSON text).
    func reply(to id: Int?, result: String) {
        send(#"{"jsonrpc":"2.0","id":\#(id.map(String.init) ?? "null"),"result":\#(result)}"#)
    }
}
