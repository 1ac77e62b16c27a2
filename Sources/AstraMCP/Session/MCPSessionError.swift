/// Why an MCP request or session failed.
///
/// `code` is stable (fit for logs, metrics and the database); `message` is a short, human
/// sentence that never contains tool arguments or credentials.
public struct MCPSessionError: Error, Sendable, CustomStringConvertible {
    /// A stable identifier of the kind of failure.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Base: String, Sendable {
            case timeout, disconnected, startFailed, protocolError, unsupportedProtocolVersion
            case remoteError, cancelled, messageTooLarge, misconfigured
        }
        let base: Base
        public var description: String { base.rawValue }

        /// The request did not complete within its timeout.
        public static let timeout = Code(base: .timeout)
        /// The connection to the server ended (the child exited or closed its stdout).
        public static let disconnected = Code(base: .disconnected)
        /// The server could not be started or did not complete initialize.
        public static let startFailed = Code(base: .startFailed)
        /// The server sent something that is not valid JSON-RPC.
        public static let protocolError = Code(base: .protocolError)
        /// The server answered initialize with a protocol revision we do not speak.
        public static let unsupportedProtocolVersion = Code(base: .unsupportedProtocolVersion)
        /// The server answered the request with a JSON-RPC error.
        public static let remoteError = Code(base: .remoteError)
        /// The caller cancelled the request.
        public static let cancelled = Code(base: .cancelled)
        /// The server's configuration cannot work (bad config, command not found): waiting or
        /// retrying will not help.
        public static let misconfigured = Code(base: .misconfigured)
        /// A message exceeded the configured size limit.
        public static let messageTooLarge = Code(base: .messageTooLarge)
    }

    public var code: Code
    public var message: String
    /// Set when the failure is a wait the pool imposes (a server restarting after it died):
    /// nothing was attempted, and trying again after this long may work.
    public var retryAfter: Duration?
    /// Set when the request provably never left the daemon (it was still in the outgoing
    /// buffer, or its HTTP request was refused before its body was sent): sending it again on a
    /// fresh connection is safe even for a tool that is not idempotent.
    public var requestNeverSent: Bool

    /// Which limit a ``Code/timeout`` met.
    public enum TimeoutLimit: Sendable, Equatable {
        /// The request went `timeout` without a reply or a progress notification.
        case idle
        /// The request reached its hard cap (`max_duration_seconds`), whatever its progress.
        case maxDuration
    }

    /// For a ``Code/timeout``: which limit ended the request.
    public var timeoutLimit: TimeoutLimit?
    /// For a ``Code/remoteError``: the JSON-RPC error code the server answered with.
    public var rpcCode: Int?
    /// For a failure the server answered with a non-success HTTP status: that status (a client
    /// falls back to the legacy HTTP+SSE transport on some 4xx to its first POST).
    public var httpStatus: UInt?

    public init(_ code: Code, _ message: String, retryAfter: Duration? = nil, requestNeverSent: Bool = false) {
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
        self.requestNeverSent = requestNeverSent
    }

    public var description: String { message }
}
