import Logging
import Subprocess
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Runs a stdio MCP server as a child process and carries an ``MCPConnection`` over its pipes.
///
/// The child is its own process group leader, so stopping it reaches everything it started.
/// Reads are event-driven (Subprocess's epoll loop), never polled. The child's stderr goes to
/// the log (info level) line by line with the server's name and its tail is kept for error messages.
struct StdioTransport: MCPTransport {
    var config: StdioServerConfig
    var serverName: String
    /// How long the child may take to exit after stdin closes, and again after SIGTERM.
    var exitGrace: Duration
    var daemonEnvironment: [String: String]
    /// The child's credentials (in its environment): redacted from its stderr wherever it goes.
    var secrets: [String] = []
    var logger: Logger
    /// Signalled by ``stop(_:)``: the child gets EOF on stdin, then its exit grace, then signals;
    /// answers it sends meanwhile still reach their calls.
    let stopRequested = AsyncEvent()

    func stop(_ connection: MCPConnection) {
        stopRequested.signal()
    }

    /// Starts the child and serves `connection` until the child exits or the connection closes
    /// (the child is then stopped). When it returns the child has exited and `connection` is
    /// closed.
    func serve(_ connection: MCPConnection) async {
        let stderrTail = StderrTail(secrets: secrets)
        let executable: Executable = config.command.contains("/") ? .path(FilePath(config.command)) : .name(config.command)
        var options = PlatformOptions()
        options.processGroupID = 0
        options.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: exitGrace)]
        let environment = config.childEnvironment(daemonEnvironment: daemonEnvironment)
        do {
            let result = try await Subprocess.run(
                executable,
                arguments: Arguments(config.args),
                environment: .custom(Dictionary(uniqueKeysWithValues: environment.map { (Environment.Key(stringLiteral: $0.key), $0.value) })),
                workingDirectory: config.cwd.map { FilePath($0) },
                platformOptions: options,
                input: .inputWriter,
                output: .sequence,
                error: .sequence
            ) { execution in
                await serve(execution, connection: connection, stderrTail: stderrTail)
            }
            logger.debug("server process ended", metadata: ["server": "\(serverName)", "exit_status": "\(result.terminationStatus)"])
        } catch {
            connection.close(MCPSessionError(.misconfigured, "cannot start '\(config.command)': \(Self.describe(error))\(stderrTail.messageSuffix)"))
        }
        connection.close(MCPSessionError(.disconnected, "server '\(serverName)' exited\(stderrTail.messageSuffix)"))
    }

    private func serve(
        _ execution: Execution<CustomWriteInput, SequenceOutput, SequenceOutput>,
        connection: MCPConnection,
        stderrTail: StderrTail
    ) async {
        let stdoutClosed = AsyncEvent()
        let stderrClosed = AsyncEvent()
        let ended = AsyncEvent()
        let writer = execution.standardInputWriter
        let processGroup = execution.processIdentifier.value
        logger.debug("server process started", metadata: ["server": "\(serverName)", "pid": "\(processGroup)"])

        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                var framer = LineFramer(maxMessageBytes: connection.maxMessageBytes)
                var failure: MCPSessionError?
                do {
                    for try await chunk in execution.standardOutput {
                        chunk.withUnsafeBytes { bytes in
                            framer.feed(bytes, onMessage: { connection.receive(line: $0) }, onOversized: { connection.receiveOversized(prefix: $0, size: $1) })
                        }
                    }
                } catch {
                    failure = MCPSessionError(.disconnected, "reading from server '\(serverName)' failed: \(Self.describe(error))")
                }
                stdoutClosed.signal()
                // Give stderr a moment to deliver the child's last words for the error message.
                if failure == nil { await stderrClosed.wait(timeout: .milliseconds(200)) }
                connection.close(failure ?? MCPSessionError(.disconnected, "server '\(serverName)' exited\(stderrTail.messageSuffix)"))
                ended.signal()
            }
            group.addTask {
                do {
                    for try await chunk in execution.standardError {
                        chunk.withUnsafeBytes { bytes in
                            stderrTail.append(bytes)
                            if logger.logLevel <= .info {
                                for line in redacting(secrets, in: String(decoding: bytes, as: UTF8.self)).split(whereSeparator: \.isNewline) {
                                    logger.info("server stderr: \(line)", metadata: ["server": "\(serverName)"])
                                }
                            }
                        }
                    }
                } catch {}
                stderrClosed.signal()
            }
            group.addTask {
                while let bytes = await connection.nextOutbound() {
                    do {
                        _ = try await writer.write(bytes)
                    } catch {
                        // A pipe write of at most PIPE_BUF bytes is all or nothing: none of it
                        // reached the child, so its requests may safely be sent elsewhere.
                        if bytes.count <= 4096 { connection.returnLastChunk() }
                        // The child is gone or going: give stderr a moment to deliver its last
                        // words for the error message.
                        await stderrClosed.wait(timeout: .milliseconds(200))
                        connection.close(
                            MCPSessionError(.disconnected, "server '\(serverName)' exited (writing to it failed: \(Self.describe(error)))\(stderrTail.messageSuffix)"))
                        ended.signal()
                        return
                    }
                }

            }
            group.addTask {
                await stopRequested.wait()
                ended.signal()
            }
            group.addTask {
                // Closed on our side (hung, or its health check failed), even while the writer is
                // stuck on a full pipe: stop the child.
                await connection.closed.wait()
                ended.signal()
            }

            await ended.wait()
            if !stdoutClosed.isSignalled {
                // We are stopping it: EOF on stdin first, then signals to its process group.
                try? await writer.finish()
                await terminate(processGroup: processGroup, until: stdoutClosed)
                connection.close(MCPSessionError(.disconnected, "server '\(serverName)' was stopped"))
            }
            // Whatever the child started must not outlive it.
            await terminate(processGroup: processGroup, until: stderrClosed)
            group.cancelAll()
        }
    }

    /// Waits up to `exitGrace` for `event`, then sends SIGTERM to the process group, waits
    /// again, then SIGKILL.
    private func terminate(processGroup: pid_t, until event: AsyncEvent) async {
        if await event.wait(timeout: exitGrace) { return }
        logger.debug("sending SIGTERM to server process group", metadata: ["server": "\(serverName)"])
        kill(-processGroup, SIGTERM)
        if await event.wait(timeout: exitGrace) { return }
        logger.warning("server did not exit after SIGTERM; sending SIGKILL", metadata: ["server": "\(serverName)"])
        kill(-processGroup, SIGKILL)
        await event.wait(timeout: exitGrace)
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? SubprocessError {
            let text = "\(error)"
            if text.contains("executableNotFound") || text.lowercased().contains("not found") {
                return "command not found"
            }
            return text
        }
        return "\(error)"
    }
}
