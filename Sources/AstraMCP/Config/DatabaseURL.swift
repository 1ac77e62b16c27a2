import Foundation
import Logging
import NIOSSL
import PostgresNIO

/// Where the database is, parsed from `postgres://user:password@host:port/database?sslmode=…`
/// (a `host=/socket/dir` query parameter selects a Unix socket).
///
/// `sslmode` means what it means to libpq: `disable`; `allow` and `prefer` (the default) encrypt
/// when the server offers TLS but verify nothing; `require` insists on TLS but verifies nothing
/// either; `verify-ca` also verifies the certificate's chain, and `verify-full` its host name too.
/// Only `verify-full` stops someone in the path from posing as the database, so use it across any
/// network you do not control. `sslrootcert` names a PEM file of the CAs to trust (default, or
/// `system`: the system's roots).
public struct DatabaseURL: Sendable {
    enum Address: Sendable {
        case tcp(host: String, port: Int)
        case socket(path: String)
    }
    enum TLSMode: Sendable { case disable, prefer, require, verifyCA, verifyFull }

    var address: Address
    var username: String
    var password: String?
    var database: String
    var tls: TLSMode
    /// `sslrootcert`: a PEM file of the CAs to trust; nil for the system's.
    var rootCertificates: String?
    /// The URL as given, for error messages, with the password hidden.
    public let redacted: String

    public init(_ string: String) throws(ConfigurationError) {
        guard let components = URLComponents(string: string),
            let scheme = components.scheme, scheme == "postgres" || scheme == "postgresql"
        else {
            throw ConfigurationError("database URL must look like postgres://user:password@host:port/database")
        }
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        username = components.user.flatMap { $0.removingPercentEncoding } ?? query["user"] ?? "postgres"
        password = components.password.flatMap { $0.removingPercentEncoding } ?? query["password"]
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        database = path.isEmpty ? (query["dbname"] ?? username) : path
        let port = components.port ?? Int(query["port"] ?? "") ?? 5432
        if let socketDirectory = query["host"], socketDirectory.hasPrefix("/") {
            address = .socket(path: "\(socketDirectory)/.s.PGSQL.\(port)")
        } else {
            address = .tcp(host: components.host.flatMap { $0.isEmpty ? nil : $0 } ?? "localhost", port: port)
        }
        switch query["sslmode"] ?? "prefer" {
        case "disable": tls = .disable
        case "prefer", "allow": tls = .prefer
        case "require": tls = .require
        case "verify-ca": tls = .verifyCA
        case "verify-full": tls = .verifyFull
        case let other:
            throw ConfigurationError("database URL: unsupported sslmode '\(other)' (disable, allow, prefer, require, verify-ca, verify-full)")
        }
        switch query["sslrootcert"] {
        case nil, "", "system": rootCertificates = nil
        case let path?:
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw ConfigurationError("database URL: sslrootcert '\(path)' cannot be read")
            }
            rootCertificates = path
        }
        var hidden = components
        if hidden.password != nil { hidden.password = "***" }
        hidden.queryItems = hidden.queryItems?.map { $0.name == "password" ? URLQueryItem(name: "password", value: "***") : $0 }
        redacted = hidden.string ?? "<database URL>"
    }

    /// TLS as `sslmode` and `sslrootcert` say.
    var tlsConfiguration: TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        switch tls {
        case .disable, .prefer, .require: configuration.certificateVerification = .none
        case .verifyCA: configuration.certificateVerification = .noHostnameVerification
        case .verifyFull: configuration.certificateVerification = .fullVerification
        }
        if let rootCertificates { configuration.trustRoots = .file(rootCertificates) }
        return configuration
    }

    /// The pool's configuration.
    /// - Parameters:
    ///   - statementTimeout: PostgreSQL's `statement_timeout` for every session, if set.
    ///   - lockTimeout: PostgreSQL's `lock_timeout` for every session, if set.
    public func clientConfiguration(
        maximumConnections: Int, statementTimeout: Duration? = nil, lockTimeout: Duration? = nil
    ) -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        switch address {
        case .tcp(let host, let port):
            let tls: PostgresClient.Configuration.TLS
            switch self.tls {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(tlsConfiguration)
            case .require, .verifyCA, .verifyFull: tls = .require(tlsConfiguration)
            }
            configuration = .init(host: host, port: port, username: username, password: password, database: database, tls: tls)
        case .socket(let path):
            configuration = .init(unixSocketPath: path, username: username, password: password, database: database)
        }
        configuration.options.maximumConnections = maximumConnections
        // Our statements are prepared once per connection and built for generic plans; without
        // this PostgreSQL may re-plan each execution (a custom plan costs more than running it).
        configuration.options.additionalStartupParameters = [("plan_cache_mode", "force_generic_plan")]
        // One statement stuck behind a backend's lock, or running away, must not freeze the
        // daemon: it fails, and the caller confines or retries it.
        if let statementTimeout {
            configuration.options.additionalStartupParameters.append(("statement_timeout", "\(Int(Backoff.milliseconds(statementTimeout)))ms"))
        }
        if let lockTimeout {
            configuration.options.additionalStartupParameters.append(("lock_timeout", "\(Int(Backoff.milliseconds(lockTimeout)))ms"))
        }
        configuration.options.connectTimeout = .seconds(10)
        return configuration
    }

    /// A single connection's configuration (migrations, pre-flight checks).
    public func connectionConfiguration() throws -> PostgresConnection.Configuration {
        switch address {
        case .tcp(let host, let port):
            let tls: PostgresConnection.Configuration.TLS
            switch self.tls {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(try NIOSSLContext(configuration: tlsConfiguration))
            case .require, .verifyCA, .verifyFull: tls = .require(try NIOSSLContext(configuration: tlsConfiguration))
            }
            return .init(host: host, port: port, username: username, password: password, database: database, tls: tls)
        case .socket(let path):
            return .init(unixSocketPath: path, username: username, password: password, database: database)
        }
    }

    /// Opens one connection, runs `body`, closes it. A connection failure becomes a one-line
    /// error naming the database.
    public func withConnection<T: Sendable>(
        logger: Logger,
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(configuration: connectionConfiguration(), id: 1, logger: logger)
        } catch {
            throw DatabaseUnavailable(url: redacted, underlying: error)
        }
        do {
            let result = try await body(connection)
            try? await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }
}

/// The database could not be reached.
public struct DatabaseUnavailable: Error, CustomStringConvertible {
    public var url: String
    public var underlying: any Error
    public var description: String {
        let reason = (underlying as? PSQLError).map { $0.serverInfo?[.message] ?? "\($0.code)" } ?? "\(underlying)"
        return "cannot connect to the database at \(url): \(reason)"
    }
}
