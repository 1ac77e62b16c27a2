import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle

/// Serves `GET /metrics` (and `HEAD`) in Prometheus' text format on a loopback address; any
/// other path is 404, any other method 405.
///
/// Made by ``listen(on:registry:logger:)``, which binds the address at once, so a port in use
/// stops the daemon before it claims anything. A `Service`: it serves from `run()` until graceful
/// shutdown, then stops accepting and closes its connections at once, so it never holds the
/// daemon's shutdown up. Put it first in the group: services stop in reverse order, so the
/// endpoint answers while the others drain.
public struct MetricsService: Service {
    /// The path scrapes ask for.
    public static let path = "/metrics"
    /// Prometheus' text exposition format.
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    private typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    /// Where it listens (the port taken, when `0` was asked for).
    public let address: MetricsListenAddress
    private let listener: NIOAsyncChannel<Connection, Never>
    let registry: PrometheusCollectorRegistry
    let logger: Logger

    private init(address: MetricsListenAddress, listener: NIOAsyncChannel<Connection, Never>, registry: PrometheusCollectorRegistry, logger: Logger) {
        self.address = address
        self.listener = listener
        self.registry = registry
        self.logger = logger
    }

    /// Binds `address` and logs the endpoint's URL; ``run()`` then serves it.
    /// - Parameters:
    ///   - address: Where to listen (`metrics_listen`).
    ///   - registry: What to serve: the one ``EngineMetrics/bootstrapPrometheus()`` returned.
    /// - Throws: An error whose description is one line, when the address cannot be bound.
    public static func listen(on address: MetricsListenAddress, registry: PrometheusCollectorRegistry, logger: Logger) async throws -> MetricsService {
        let listener: NIOAsyncChannel<Connection, Never>
        do {
            listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: address.host, port: address.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        return try Connection(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw MetricsEndpointError(description: "the metrics endpoint cannot listen on \(address) (metrics_listen): \(error)")
        }
        let bound = MetricsListenAddress(host: address.host, port: listener.channel.localAddress?.port ?? address.port)
        logger.info("metrics endpoint listening", metadata: ["url": "http://\(bound)\(path)"])
        return MetricsService(address: bound, listener: listener, registry: registry, logger: logger)
    }

    public func run() async throws {
        // Cancelled on graceful shutdown: the accept loop and every connection's read end, and
        // each channel is closed on the way out.
        try? await cancelWhenGracefulShutdown {
            try await withThrowingDiscardingTaskGroup { group in
                try await listener.executeThenClose { connections in
                    for try await connection in connections {
                        group.addTask { await serve(connection) }
                    }
                }
            }
        }
        // Ended by something else (the listener failed): the daemon goes on without metrics,
        // as a service returning early would stop the whole group.
        if !Task.isCancelled, !Task.isShuttingDownGracefully {
            logger.error("the metrics endpoint stopped listening", metadata: ["url": "http://\(address)\(Self.path)"])
            try? await gracefulShutdown()
        }
    }

    /// Answers one connection's requests in turn (Prometheus keeps its connection alive).
    private func serve(_ connection: Connection) async {
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            for try await part in inbound {
                switch part {
                case .head(let requestHead): head = requestHead
                case .body: continue  // a scrape has none; anything sent is ignored
                case .end:
                    guard let request = head else { continue }
                    head = nil
                    try await respond(to: request, outbound)
                    if !request.isKeepAlive { return }
                }
            }
        }
    }

    private func respond(to request: HTTPRequestHead, _ outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws {
        let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
        let status: HTTPResponseStatus
        var headers = HTTPHeaders()
        var body = ByteBuffer()
        switch (path, request.method) {
        case (Self.path, .GET), (Self.path, .HEAD):
            status = .ok
            headers.add(name: "Content-Type", value: Self.contentType)
            body = ByteBuffer(bytes: registry.emitToBuffer())
        case (Self.path, _):
            status = .methodNotAllowed
            headers.add(name: "Allow", value: "GET, HEAD")
        default:
            status = .notFound
            headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
            body = ByteBuffer(string: "not found: metrics are at \(Self.path)\n")
        }
        headers.add(name: "Content-Length", value: "\(body.readableBytes)")
        if !request.isKeepAlive { headers.add(name: "Connection", value: "close") }
        try await outbound.write(.head(HTTPResponseHead(version: request.version, status: status, headers: headers)))
        if request.method != .HEAD, body.readableBytes > 0 { try await outbound.write(.body(.byteBuffer(body))) }
        try await outbound.write(.end(nil))
    }
}

/// The metrics endpoint could not start; `description` is one line.
struct MetricsEndpointError: Error, CustomStringConvertible {
    var description: String
}
