import AstraMCP
import Foundation
import Logging
import Subprocess
import SystemPackage

/// A throwaway PostgreSQL cluster started from the installed binaries, for the demo, the
/// benchmark and the integration tests. Data lives in a temporary directory, fsync is off,
/// it listens on 127.0.0.1 at a free port, and ``stop()`` removes everything.
///
/// PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` user.
public final class EphemeralPostgres: Sendable {
    public let url: String
    let directory: String
    let binDirectory: String
    let runAs: [String]

    private init(url: String, directory: String, binDirectory: String, runAs: [String]) {
        self.url = url
        self.directory = directory
        self.binDirectory = binDirectory
        self.runAs = runAs
    }

    /// Creates and starts a cluster.
    /// - Parameters:
    ///   - statementStatistics: Load `pg_stat_statements` (for the benchmark's report).
    ///   - tls: PEM files of a server certificate and its key: the server then offers TLS.
    public static func start(
        logger: Logger, statementStatistics: Bool = false, tls: (certificate: String, key: String)? = nil
    ) async throws -> EphemeralPostgres {
        guard let binDirectory = findBinDirectory() else {
            throw ConfigurationError("no PostgreSQL server binaries found (looked for initdb under /usr/lib/postgresql/*/bin); install the 'postgresql' package")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("astra-mcpd-pg-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let runAs: [String] = getuid() == 0 ? ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"] : []
        if getuid() == 0 {
            try await exec(["chown", "postgres:postgres", directory], cwd: "/")
            chmod(directory, 0o700)
        }
        let port = freeLocalPort()
        let cluster = EphemeralPostgres(
            url: "postgres://postgres@127.0.0.1:\(port)/postgres?sslmode=disable", directory: directory,
            binDirectory: binDirectory, runAs: runAs)
        try await exec(runAs + ["\(binDirectory)/initdb", "-D", "\(directory)/data", "-U", "postgres", "-A", "trust", "-E", "UTF8",
                                "--locale=C.UTF-8", "--no-sync", "--no-instructions"], cwd: directory)
        let options = "-c listen_addresses=127.0.0.1 -c port=\(port) -c unix_socket_directories=\(directory) -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=600"
        + (statementStatistics ? " -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all" : "")
        + (try await tlsOptions(tls, directory: directory, owned: getuid() == 0))
        try await exec(runAs + ["\(binDirectory)/pg_ctl", "-D", "\(directory)/data", "-l", "\(directory)/postgres.log", "-w", "-t", "60", "-s",
                                "-o", options, "start"], cwd: directory)
        logger.debug("throwaway PostgreSQL started", metadata: ["url": "\(cluster.url)"])
        return cluster
    }

    /// The server's copies of the certificate and key (PostgreSQL insists the key is its own and
    /// private), and the options that use them.
    private static func tlsOptions(_ tls: (certificate: String, key: String)?, directory: String, owned: Bool) async throws -> String {
        guard let tls else { return "" }
        let certificate = directory + "/server.crt", key = directory + "/server.key"
        try FileManager.default.copyItem(atPath: tls.certificate, toPath: certificate)
        try FileManager.default.copyItem(atPath: tls.key, toPath: key)
        chmod(key, 0o600)
        if owned { try await exec(["chown", "postgres:postgres", certificate, key], cwd: "/") }
        return " -c ssl=on -c ssl_cert_file=\(certificate) -c ssl_key_file=\(key)"
    }

    /// The directory of the server's Unix socket (`?host=` in a database URL): reachable from
    /// another network namespace, where 127.0.0.1 is not.
    public var socketDirectory: String { directory }

    /// Restarts the server (a fast shutdown: every connection is cut, as in a failover), with
    /// the options it was started with.
    func restart() async throws {
        // With its log file again: without one the new server would keep pg_ctl's output
        // pipes open, and reading them to their end would never finish.
        try await Self.exec(
            runAs + ["\(binDirectory)/pg_ctl", "-D", "\(directory)/data", "-l", "\(directory)/postgres.log", "-m", "fast", "-w", "-t", "60", "-s", "restart"],
            cwd: directory)
    }

    /// Stops the cluster and deletes its files.
    public func stop() async {
        try? await Self.exec(runAs + ["\(binDirectory)/pg_ctl", "-D", "\(directory)/data", "-m", "fast", "-w", "-t", "60", "-s", "stop"], cwd: directory)
        try? FileManager.default.removeItem(atPath: directory)
    }

    static func findBinDirectory() -> String? {
        let base = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
        for version in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }) {
            let bin = "\(base)/\(version)/bin"
            if FileManager.default.isExecutableFile(atPath: "\(bin)/initdb") { return bin }
        }
        return nil
    }

    private static func exec(_ command: [String], cwd: String) async throws {
        let result = try await Subprocess.run(
            .name(command[0]), arguments: Arguments(Array(command.dropFirst())), workingDirectory: FilePath(cwd),
            output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
        guard result.terminationStatus.isSuccess else {
            throw ConfigurationError("\(command.joined(separator: " ")) failed (\(result.terminationStatus)): \(result.standardError)")
        }
    }
}

/// A TCP port of 127.0.0.1 nobody listens on right now.
func freeLocalPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}
