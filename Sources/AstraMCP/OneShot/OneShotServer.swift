import Foundation
import Logging
import PostgresNIO

/// The server a one-shot request goes to: a row of `mcp_servers`, or one named on the command
/// line. Either way it becomes a ``ServerDescriptor`` and is started the way the daemon starts
/// a row (``SessionPool`` and its launcher): the same transports, network policy, stdio policy
/// and sandbox, credentials and OAuth.
public struct OneShotServer: Sendable {
    /// The server as the session pool sees it.
    public var descriptor: ServerDescriptor
    /// Looks up the server's stored secret of a `credential_type`.
    var credentials: @Sendable (ServerDescriptor, String) async throws -> StoredSecret
    /// A program the operator named on the command line: allowed whatever `stdio_commands` says,
    /// as the operator could start it by hand anyway. A row's program is judged as the daemon
    /// judges it.
    var operatorCommand: String?
    /// Try the legacy HTTP+SSE transport when the URL answers the Streamable HTTP initialize
    /// with 400, 404 or 405, as the spec's backwards compatibility section says a client may.
    var fallsBackToLegacySSE = false

    init(
        descriptor: ServerDescriptor, credentials: @escaping @Sendable (ServerDescriptor, String) async throws -> StoredSecret = Self.noCredentials,
        operatorCommand: String? = nil, fallsBackToLegacySSE: Bool = false
    ) {
        self.descriptor = descriptor
        self.credentials = credentials
        self.operatorCommand = operatorCommand
        self.fallsBackToLegacySSE = fallsBackToLegacySSE
    }

    /// A server named on the command line has no stored credentials.
    static let noCredentials: @Sendable (ServerDescriptor, String) async throws -> StoredSecret = { server, type in
        throw CredentialError("server '\(server.name)' is not in the database, so it has no stored \(type) credential")
    }

    /// A Streamable HTTP server at `url` (legacy HTTP+SSE if it turns out to be one).
    /// - Throws: ``OneShotError`` (`usage`) when `url` is not an http(s) URL.
    public static func url(_ url: String) throws(OneShotError) -> OneShotServer {
        guard let parts = URLComponents(string: url), ["http", "https"].contains(parts.scheme?.lowercased()), parts.host?.isEmpty == false else {
            throw OneShotError(.usage, "'\(url.prefix(200))' is not an http:// or https:// URL")
        }
        return try OneShotServer(descriptor: descriptor(name: url, type: "http", config: ["url": url]), fallsBackToLegacySSE: true)
    }

    /// A stdio server: `command` (a program and its arguments), started as the daemon starts one.
    /// - Throws: ``OneShotError`` (`usage`) when `command` is empty.
    public static func command(_ command: [String]) throws(OneShotError) -> OneShotServer {
        guard let program = command.first, !program.isEmpty else { throw OneShotError(.usage, "--command needs a program to run") }
        let server = try descriptor(name: URL(fileURLWithPath: program).lastPathComponent, type: "stdio", config: ["command": program, "args": Array(command.dropFirst())])
        return OneShotServer(descriptor: server, operatorCommand: program)
    }

    /// The row of `mcp_servers` named `nameOrID` (active or not: an operator may check a server
    /// the daemon deactivated), with its stored credentials.
    /// - Throws: ``OneShotError``: `usage` when no single server has that name or id, `database`
    ///   when the database cannot be read.
    public static func registered(
        _ nameOrID: String, database: PostgresClient, credentialKeysDirectory: String, logger: Logger
    ) async throws(OneShotError) -> OneShotServer {
        let credentials = CredentialStore(database: database, keysDirectory: credentialKeysDirectory, logger: logger)
        let found: ServerDescriptor?
        do {
            found = try await ServerStore(database: database, logger: logger).server(id: try await credentials.serverID(nameOrID: nameOrID))
        } catch let error as CredentialError {
            throw OneShotError(.usage, error.description)
        } catch {
            throw OneShotError(.database, "reading server '\(nameOrID)' failed: \(String(reflecting: error))")
        }
        guard let descriptor = found else { throw OneShotError(.usage, "no server named '\(nameOrID)'") }
        return OneShotServer(descriptor: descriptor) { server, type in
            try await credentials.secret(serverID: server.id, serverName: server.name, credentialType: type)
        }
    }

    /// A descriptor of a server that is not in the database; its config is checked as a row's.
    static func descriptor(name: String, type: String, config: [String: Any]) throws(OneShotError) -> ServerDescriptor {
        let json: String
        do {
            json = String(decoding: try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
        } catch {
            throw OneShotError(.usage, "\(error)")
        }
        let server = ServerDescriptor(id: UUID(), name: name, serverType: type, isActive: true, configJSON: json)
        do {
            _ = try TransportConfig.parse(server)
        } catch {
            throw OneShotError(.usage, error.description)
        }
        return server
    }

    /// The same server over the legacy HTTP+SSE transport (a new id: the pool judges it afresh).
    func asLegacySSE() -> OneShotServer {
        var server = self
        server.descriptor = ServerDescriptor(
            id: UUID(), name: descriptor.name, serverType: "sse", isActive: true, configJSON: descriptor.configJSON)
        server.fallsBackToLegacySSE = false
        return server
    }
}
