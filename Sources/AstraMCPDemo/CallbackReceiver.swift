import AstraMCP
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A completion-callback receiver on 127.0.0.1 for the demo and the benchmark: it checks each
/// Standard Webhooks signature with the team's secret, answers 204 (401 when it does not verify),
/// and notes when each message arrived. (The tests verify with the `standardwebhooks` package
/// instead, an implementation nobody here wrote.)
public final class CallbackReceiver: Sendable {
    /// One callback as received.
    public struct Received: Sendable {
        public var webhookID: String
        public var body: String
        public var verified: Bool
        public var at: Date
    }

    public let url: String
    private let channel: any Channel
    private let received = Mutex<[Received]>([])
    private let arrivals = AsyncStream<Received>.makeStream()

    private init(url: String, channel: any Channel) {
        self.url = url
        self.channel = channel
    }

    /// Listens on a free loopback port; each callback is verified with `secret`.
    public static func start(secret: String) async throws -> CallbackReceiver {
        let signer = try WebhookSigner(secret: secret)
        let box = ReceiverBox()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(signer: signer, box: box))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let receiver = CallbackReceiver(url: "http://127.0.0.1:\(channel.localAddress?.port ?? 0)/hooks", channel: channel)
        box.receiver.withLock { $0 = receiver }
        return receiver
    }

    /// Every callback received so far.
    public var all: [Received] { received.withLock { $0 } }

    /// Callbacks as they arrive.
    public var stream: AsyncStream<Received> { arrivals.stream }

    public func stop() async {
        arrivals.continuation.finish()
        try? await channel.close()
    }

    fileprivate func record(_ callback: Received) {
        received.withLock { $0.append(callback) }
        arrivals.continuation.yield(callback)
    }

    fileprivate final class ReceiverBox: Sendable {
        let receiver = Mutex<CallbackReceiver?>(nil)
    }

    private final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let signer: WebhookSigner
        let box: ReceiverBox
        var head: HTTPRequestHead?
        var body = ByteBuffer()

        init(signer: WebhookSigner, box: ReceiverBox) {
            self.signer = signer
            self.box = box
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                self.head = head
                body.clear()
            case .body(var chunk):
                body.writeBuffer(&chunk)
            case .end:
                guard let head else { return }
                let text = String(buffer: body)
                let id = head.headers.first(name: "webhook-id") ?? ""
                let timestamp = head.headers.first(name: "webhook-timestamp").flatMap(Int.init) ?? 0
                let signatures = (head.headers.first(name: "webhook-signature") ?? "").split(separator: " ").map(String.init)
                let verified = signatures.contains(signer.signature(id: id, timestamp: timestamp, body: text))
                box.receiver.withLock { $0 }?.record(Received(webhookID: id, body: text, verified: verified, at: Date()))
                var response = HTTPResponseHead(version: head.version, status: verified ? .noContent : .unauthorized)
                response.headers.add(name: "content-length", value: "0")
                context.write(wrapOutboundOut(.head(response)), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }
}
