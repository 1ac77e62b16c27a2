/// Carries an ``MCPConnection``'s messages to one server and back: a child's pipes, Streamable
/// HTTP, or the legacy HTTP+SSE transport.
protocol MCPTransport: Sendable {
    /// Serves `connection` until it closes, whoever closes it: the transport closes it when the
    /// server goes away, and winds down when anyone else does (``MCPConnection/closed``).
    /// Returns once everything it started has ended (a stdio child has exited).
    func serve(_ connection: MCPConnection) async

    /// The pool stops the session. By default the connection closes at once (its calls fail);
    /// a transport that can let the server finish first (a stdio child given EOF and its exit
    /// grace) does that instead, and closes the connection when it is done.
    func stop(_ connection: MCPConnection)
}

extension MCPTransport {
    func stop(_ connection: MCPConnection) {
        connection.close(MCPSessionError(.disconnected, "server '\(connection.serverName)' was stopped"))
    }
}

/// Runs one session's transport with what every transport needs beside it: the sweeper that
/// times requests out (asleep until the earliest deadline), and the stop watcher, which tells
/// the transport when the pool stops the session.
enum SessionRunner {
    static func run(_ transport: some MCPTransport, connection: MCPConnection, stop: AsyncEvent) async {
        await withDiscardingTaskGroup { group in
            group.addTask { await connection.runTimeoutSweeper() }
            group.addTask {
                await stop.wait()
                guard !Task.isCancelled else { return }
                transport.stop(connection)
            }
            await transport.serve(connection)
            // The transport may end on its own (the server went away) before anyone closed it.
            connection.close(MCPSessionError(.disconnected, "server '\(connection.serverName)' closed the session"))
            group.cancelAll()
        }
    }
}
