import Foundation
import Logging
import MCP

/// Wraps a transport so that, at end of input, the server's message stream
/// stays open until every request already received has been answered or
/// cancelled (for at most `drainTimeout`).
///
/// Without it `printf '…' | astra-mcpd-demo-server` loses answers: the SDK runs
/// each request in a task of its own and stops waiting for them when its input
/// ends, so the process would exit with requests still in flight.
actor DrainingTransport: Transport {
    nonisolated let logger: Logger
    private let base: any Transport
    private let drainTimeout: Duration
    /// Requests received and neither answered nor cancelled yet.
    private var unanswered: Set<ID> = []

    init(_ base: any Transport, logger: Logger, drainTimeout: Duration = .seconds(10)) {
        self.base = base
        self.logger = logger
        self.drainTimeout = drainTimeout
    }

    func connect() async throws {
        try await base.connect()
    }

    func disconnect() async {
        await base.disconnect()
    }

    func send(_ data: Data) async throws {
        // A response that cannot be delivered will not be delivered later either.
        defer {
            for message in JSONRPCEnvelope.all(in: data) where message.method == nil {
                if let id = message.id { unanswered.remove(id) }
            }
        }
        try await base.send(data)
    }

    func receive() -> AsyncThrowingStream<Data, any Error> {
        let (stream, continuation) = AsyncThrowingStream<Data, any Error>.makeStream()
        let pumping = Task { await pump(into: continuation) }
        continuation.onTermination = { _ in pumping.cancel() }
        return stream
    }

    private func pump(into continuation: AsyncThrowingStream<Data, any Error>.Continuation) async {
        do {
            for try await data in await base.receive() {
                track(received: data)
                continuation.yield(data)
            }
            await drain()
            continuation.finish()
        } catch {
            continuation.finish(throwing: error)
        }
    }

    private func track(received data: Data) {
        for message in JSONRPCEnvelope.all(in: data) {
            if let id = message.id, message.method != nil {
                unanswered.insert(id)
            } else if message.method == CancelledNotification.name, let id = message.cancelledRequest {
                unanswered.remove(id)
            }
        }
    }

    private func drain() async {
        let deadline = ContinuousClock.now + drainTimeout
        while !unanswered.isEmpty, ContinuousClock.now < deadline {
            do {
                try await Task.sleep(for: .milliseconds(10))
            } catch {
                return
            }
        }
        if !unanswered.isEmpty {
            logger.warning(
                "Input ended; giving up on unanswered requests",
                metadata: ["count": "\(unanswered.count)"])
        }
    }
}

/// The few fields of a JSON-RPC message that request tracking needs.
private struct JSONRPCEnvelope {
    let id: ID?
    let method: String?
    /// `params.requestId`, as carried by `notifications/cancelled`.
    let cancelledRequest: ID?

    /// The messages in `data`: one, or several for a batch; none if it is not JSON.
    static func all(in data: Data) -> [JSONRPCEnvelope] {
        guard let json = try? JSONDecoder().decode(Value.self, from: data) else { return [] }
        let objects = json.arrayValue?.compactMap(\.objectValue) ?? json.objectValue.map { [$0] } ?? []
        return objects.map { object in
            JSONRPCEnvelope(
                id: object["id"].flatMap(ID.init(jsonValue:)),
                method: object["method"]?.stringValue,
                cancelledRequest: object["params"]?.objectValue?["requestId"].flatMap(ID.init(jsonValue:))
            )
        }
    }
}

extension ID {
    /// The ID a JSON value denotes, as the SDK reads it: a string or an integer.
    fileprivate init?(jsonValue: Value) {
        switch jsonValue {
        case .string(let string): self = .string(string)
        case .int(let number): self = .number(number)
        default: return nil
        }
    }
}
