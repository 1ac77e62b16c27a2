/// Why a one-shot request (`astra-mcpd call`) failed, by the step that failed: the command line
/// can tell an operator's mistake from a server that cannot be reached or one that fails the
/// request.
///
/// `code` is stable; `message` is one line, with the server's credentials redacted as in the
/// daemon's own errors.
public struct OneShotError: Error, Sendable, CustomStringConvertible {
    /// A stable identifier of the step that failed.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Base: String, Sendable {
            case usage, configuration, unreachable, requestFailed, database, interrupted
        }
        let base: Base
        public var description: String { base.rawValue }

        /// What was asked cannot be done: arguments that are not a JSON object or break the
        /// tool's inputSchema, an unknown server, an unsupported conformance scenario.
        public static let usage = Code(base: .usage)
        /// The configuration refuses the server: a program not in `stdio_commands`, an address
        /// the network policy refuses, a credential that is missing or expired.
        public static let configuration = Code(base: .configuration)
        /// The server could not be started, reached or initialized.
        public static let unreachable = Code(base: .unreachable)
        /// The server failed a request after initialize: a JSON-RPC error, a timeout, a reply that
        /// is not MCP, or the session ending before the answer.
        public static let requestFailed = Code(base: .requestFailed)
        /// The database holding the server's row could not be read.
        public static let database = Code(base: .database)
        /// The operator interrupted the command (SIGINT or SIGTERM).
        public static let interrupted = Code(base: .interrupted)
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// A session error of the step after initialize.
    static func request(_ error: MCPSessionError) -> OneShotError {
        OneShotError(error.code == .misconfigured ? .configuration : .requestFailed, error.message)
    }

    /// A session error of the start (spawn or connect, then initialize).
    static func start(_ error: MCPSessionError) -> OneShotError {
        OneShotError(error.code == .misconfigured ? .configuration : .unreachable, error.message)
    }
}
