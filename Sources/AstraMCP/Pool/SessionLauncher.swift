import AsyncHTTPClient
import Logging
import NIOCore

/// Starts and runs one session: its transport (a child process, or HTTP with the server's
/// credential), then the initialize handshake; it returns when the transport has ended.
struct SessionLauncher: Sendable {
    var configuration: SessionPool.Configuration
    /// The programs stdio servers may start: a reload may change them.
    var stdioCommands: LiveValue<StdioCommandPolicy>
    var logger: Logger
    /// HTTP clients pinned to the addresses the network policy allowed, one per host and
    /// address, shared by the sessions to it: connections are kept alive and reused.
    var httpClients: PinnedHTTPClients
    var handlersForServer: @Sendable (ServerDescriptor) -> MCPConnection.Handlers
    /// Looks up a server's stored secret of a `credential_type` (for `auth`, or `env`).
    var credentials: @Sendable (ServerDescriptor, String) async throws -> StoredSecret
    /// The OAuth clients of the servers that use the client credentials grant (their tokens
    /// outlive any one session).
    var oauthClients = OAuthClients()

    /// Runs the session of `server` until it ends or `stop` is signalled.
    /// - Parameters:
    ///   - credentialExpired: Called when the credential the session was opened with expires.
    ///   - started: Told once whether initialize succeeded (a failure is reworded to say the
    ///     server failed to start); after a failure the transport is stopped.
    /// - Returns: The session's connection, closed.
    func run(
        _ server: ServerDescriptor, config: TransportConfig, slot: Int, stop: AsyncEvent,
        credentialExpired: @escaping @Sendable () -> Void,
        started: @Sendable (Result<SessionPool.Session, MCPSessionError>) -> Void
    ) async -> MCPConnection {
        let connection = MCPConnection(
            serverName: server.name, logger: logger, handlers: handlersForServer(server), maxMessageBytes: configuration.maxMessageBytes)
        let transportDone = AsyncEvent()
        await withTaskGroup(of: Void.self) { group in
            switch config {
            case .stdio(var config):
                // Only programs the operator listed; started by the absolute path found.
                do throws(StdioCommandPolicy.Refusal) {
                    let path = config.childEnvironment(daemonEnvironment: configuration.daemonEnvironment)["PATH"] ?? ""
                    if let real = try stdioCommands.value.resolve(config.command, path: path) { config.command = real }
                } catch {
                    connection.close(MCPSessionError(.misconfigured, "server '\(server.name)': \(error.description)"))
                    break
                }
                // Credentials named in `env` are decrypted into the child's environment only.
                var secrets: [String] = []
                do {
                    for (name, type) in config.envCredentials.sorted(by: { $0.key < $1.key }) {
                        let secret = try await credentials(server, type).secret
                        config.env[name] = secret
                        secrets.append(secret)
                    }
                } catch {
                    connection.close(MCPSessionError(.misconfigured, "\(error)"))
                    break
                }
                connection.redact(secrets)
                (config.command, config.args) = configuration.stdioSandbox.wrap(
                    command: config.command, arguments: config.args, hiding: configuration.hiddenFromChildren)
                let transport = StdioTransport(
                    config: config, serverName: server.name, exitGrace: configuration.childExitGrace,
                    daemonEnvironment: configuration.daemonEnvironment, secrets: secrets, logger: logger)
                group.addTask { await SessionRunner.run(transport, connection: connection, stop: stop); transportDone.signal() }
            case .streamableHTTP(let httpConfig), .legacySSE(let httpConfig):
                // The host is resolved and judged by the network policy before anything is sent;
                // the session's connections then go to the address judged, whatever DNS says later.
                let clients: PinnedHTTPClients.Lease
                do throws(PinnedHTTPClients.Refused) {
                    clients = try await httpClients.lease(for: httpConfig.url)
                } catch {
                    connection.close(MCPSessionError(error.transient ? .disconnected : .misconfigured, "server '\(server.name)': \(error.description)"))
                    break
                }
                guard
                    let endpoint = await endpoint(
                        server, httpConfig, clients: clients, connection: connection, transportDone: transportDone,
                        credentialExpired: credentialExpired, group: &group)
                else {
                    await httpClients.release(clients)
                    break
                }
                let transport: any MCPTransport =
                    if case .legacySSE = config { LegacySSETransport(endpoint: endpoint) } else { StreamableHTTPTransport(endpoint: endpoint) }
                group.addTask {
                    await SessionRunner.run(transport, connection: connection, stop: stop)
                    transportDone.signal()
                    await httpClients.release(clients)
                }
            }
            do {
                let info = try await connection.initialize(timeout: configuration.initializeTimeout)
                logger.info(
                    "server connected",
                    metadata: [
                        "server": "\(server.name)", "session": "\(slot)", "protocol": "\(info.protocolVersion)",
                        "implementation": "\(info.name) \(info.version)",
                    ])
                started(.success(SessionPool.Session(connection: connection, info: info)))
            } catch {
                let failure = Self.startFailure(error, server: server)
                logger.error("server failed to start", metadata: server.logMetadata.merging(["error": "\(failure.message)"]) { $1 })
                started(.failure(failure))
                stop.signal()
            }
            await group.waitForAll()
        }
        return connection
    }

    /// Where a remote server is and how to present its credential; nil (the connection closed
    /// with the reason) when the credential cannot be had. A credential that expires retires the
    /// session then.
    private func endpoint(
        _ server: ServerDescriptor, _ config: HTTPServerConfig, clients: PinnedHTTPClients.Lease, connection: MCPConnection, transportDone: AsyncEvent,
        credentialExpired: @escaping @Sendable () -> Void, group: inout TaskGroup<Void>
    ) async -> HTTPEndpoint? {
        var headers: [(String, String)] = []
        var secrets: [String] = []
        var oauth: OAuthClient?
        if let oauthConfig = config.auth?.oauthClientCredentials {
            // Tokens come and go; the client secret or key is read when a token is fetched.
            oauth = oauthClient(server, config, oauthConfig)
            connection.redact(changing: { [oauth] in oauth?.secrets ?? [] })
        } else if let auth = config.auth {
            do {
                let stored = try await credentials(server, auth.credentialType)
                headers = auth.headers(secret: stored.secret)
                secrets = [stored.secret] + headers.map(\.1)
                if let validFor = stored.validFor {
                    // At expires_at the session stops taking calls; the next start says the
                    // credential has expired.
                    group.addTask {
                        guard !(await transportDone.wait(timeout: validFor)) else { return }
                        logger.notice("server credential expired; retiring its sessions", metadata: server.logMetadata)
                        credentialExpired()
                    }
                }
            } catch {
                connection.close(MCPSessionError(.misconfigured, "\(error)"))
                return nil
            }
        }
        connection.redact(secrets)
        return HTTPEndpoint(
            config: config, serverName: server.name, client: clients.client, singleUseClient: clients.singleUseClient!, logger: logger,
            maxMessageBytes: configuration.maxMessageBytes, credentialHeaders: headers, secrets: secrets, oauth: oauth,
            readTimeout: TimeAmount(configuration.httpReadTimeout))
    }

    /// The server's OAuth client, shared by its sessions; its HTTP goes through the pinned,
    /// policy-checked clients.
    private func oauthClient(_ server: ServerDescriptor, _ config: HTTPServerConfig, _ oauthConfig: OAuthClientCredentialsConfig) -> OAuthClient {
        oauthClients.client(for: server) {
            OAuthClient(
                target: .init(serverName: server.name, serverURL: config.url, config: oauthConfig),
                http: OAuthHTTP(clients: httpClients, allowInsecureHTTP: config.allowInsecureHTTP, logger: logger),
                credential: { [credentials] type in try await credentials(server, type).secret }, logger: logger)
        }
    }

    /// A failed start, said as one: what went wrong during initialize.
    static func startFailure(_ error: any Error, server: ServerDescriptor) -> MCPSessionError {
        guard let error = error as? MCPSessionError else {
            return MCPSessionError(.startFailed, "server '\(server.name)' failed to start: \(error)")
        }
        switch error.code {
        case .startFailed, .unsupportedProtocolVersion, .misconfigured:
            return error
        case .disconnected:
            return MCPSessionError(.startFailed, error.message.replacingOccurrences(of: "' exited", with: "' exited during initialize"))
        case .timeout:
            return MCPSessionError(.startFailed, "server '\(server.name)' did not answer initialize in time")
        default:
            var failure = MCPSessionError(.startFailed, "server '\(server.name)' failed during initialize: \(error.message)")
            failure.httpStatus = error.httpStatus
            return failure
        }
    }
}
