import AstraMCPDemo
import Foundation
import Logging
import PostgresNIO
import Subprocess
import Testing

@testable import AstraMCP

/// `sslmode` against a real PostgreSQL offering TLS with a certificate of a CA of the test's own,
/// issued for the name `localhost` only (not for the address 127.0.0.1).
@Suite("Database TLS", .timeLimit(.minutes(2)))
struct DatabaseTLSTests {
    /// A CA, and a server certificate it signed for `localhost`.
    struct Certificates {
        let directory: String
        var ca: String { directory + "/ca.crt" }
        var certificate: String { directory + "/server.crt" }
        var key: String { directory + "/server.key" }

        static func make() async throws -> Certificates {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("astra-tls-\(UUID().uuidString.prefix(8))").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let certificates = Certificates(directory: directory)
            try "subjectAltName=DNS:localhost\n".write(toFile: directory + "/san.ext", atomically: true, encoding: .utf8)
            for command in [
                ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=astra test CA"],
                ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"],
                ["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "2",
                 "-extfile", "san.ext"],
            ] {
                let result = try await Subprocess.run(
                    .name("openssl"), arguments: Arguments(command), workingDirectory: .init(directory),
                    output: .discarded, error: .string(limit: 1 << 16))
                guard result.terminationStatus.isSuccess else {
                    throw ConfigurationError("openssl \(command[0]) failed: \(result.standardError)")
                }
            }
            return certificates
        }
    }

    /// Whether a connection made as `url` says is encrypted (PostgreSQL's own view).
    func encrypted(_ url: String) async throws -> Bool {
        try await DatabaseURL(url).withConnection(logger: TestLogging.logger) { connection in
            let rows = try await connection.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", logger: TestLogging.logger).collect()
            return try rows[0].decode(Bool.self)
        }
    }

    @Test("disable, prefer and require mean what they mean to libpq; verify-ca checks the chain, verify-full the name too")
    func modes() async throws {
        let certificates = try await Certificates.make()
        defer { try? FileManager.default.removeItem(atPath: certificates.directory) }
        let cluster = try await EphemeralPostgres.start(logger: TestLogging.logger, tls: (certificates.certificate, certificates.key))
        do {
            let base = cluster.url.replacingOccurrences(of: "?sslmode=disable", with: "")
            #expect(try await encrypted(base + "?sslmode=disable") == false)
            #expect(try await encrypted(base) == true, "prefer, the default, encrypts when offered")
            #expect(try await encrypted(base + "?sslmode=require") == true, "require does not verify the certificate")
            #expect(try await encrypted(base + "?sslmode=verify-ca&sslrootcert=\(certificates.ca)") == true, "the chain is the test CA's")

            let byName = base.replacingOccurrences(of: "127.0.0.1", with: "localhost")
            #expect(try await encrypted(byName + "?sslmode=verify-full&sslrootcert=\(certificates.ca)") == true, "the name is the certificate's")

            // Without the CA the chain does not verify; with it, 127.0.0.1 is not the certificate's name.
            await #expect(throws: (any Error).self) { _ = try await encrypted(base + "?sslmode=verify-ca") }
            await #expect(throws: (any Error).self) { _ = try await encrypted(base + "?sslmode=verify-full&sslrootcert=\(certificates.ca)") }

            // The pool the daemon uses honours the same settings.
            let pool = PostgresClient(
                configuration: try DatabaseURL(base + "?sslmode=verify-ca&sslrootcert=\(certificates.ca)").clientConfiguration(maximumConnections: 1),
                backgroundLogger: TestLogging.logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await pool.run() }
                let rows = try await pool.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", logger: TestLogging.logger).collect()
                #expect(try rows[0].decode(Bool.self))
                group.cancelAll()
            }
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }

    @Test("an unknown sslmode, or an sslrootcert that cannot be read, is a clear configuration error")
    func badSettings() {
        #expect(throws: ConfigurationError.self) { try DatabaseURL("postgres://u@h/d?sslmode=verify") }
        do {
            _ = try DatabaseURL("postgres://u@h/d?sslmode=verify-full&sslrootcert=/nonexistent/ca.crt")
            Issue.record("accepted")
        } catch {
            #expect(error.description.contains("sslrootcert '/nonexistent/ca.crt' cannot be read"))
        }
    }
}
