import Foundation

@testable import AstraMCPDemo

#if canImport(Glibc)
import Glibc
#endif

/// A fixture server from `Tests/Fixtures`, run with the venv's Python on a free port of
/// 127.0.0.1, with a directory where it records what it saw (one JSON file per event).
final class PythonFixture: @unchecked Sendable {
    let port: Int
    /// Where the fixture writes its files; removed by ``stop()``.
    let record: String
    private var process: Process?

    init(recordPrefix: String, port: Int = freeLocalPort()) {
        self.port = port
        record = FileManager.default.temporaryDirectory.appendingPathComponent("\(recordPrefix)-\(UUID().uuidString.prefix(8))").path
    }

    /// Starts `Tests/Fixtures/<script>` with `arguments` and waits until it accepts connections.
    func start(_ script: String, _ arguments: [String]) async throws {
        let python = TestPaths.repositoryRoot.appendingPathComponent(".venv/bin/python").path
        try TestPaths.requireExecutable(python, hint: "run `bash scripts/setup.sh` to create the venv")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures/\(script)").path] + arguments
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        self.process = process
        try await eventually(.seconds(20), "\(script) to listen on port \(port)") { [port] in acceptsConnections(port: port) }
    }

    /// Kills the fixture (SIGKILL) and removes its records.
    func stop() {
        if let process, process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        process = nil
        try? FileManager.default.removeItem(atPath: record)
    }

    /// Sends `signal` to the fixture (a lever some fixtures offer, such as SIGUSR1).
    func send(signal: Int32) {
        if let process, process.isRunning { kill(process.processIdentifier, signal) }
    }

    deinit { stop() }

    /// The names of the recorded files that start with `prefix`, sorted.
    func files(_ prefix: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: record)) ?? []).filter { $0.hasPrefix(prefix) && $0.hasSuffix(".json") }.sorted()
    }

    /// The recorded JSON objects whose file names start with `prefix`.
    func objects(_ prefix: String) -> [[String: Any]] {
        files(prefix).compactMap { name in
            FileManager.default.contents(atPath: record + "/" + name).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        }
    }
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
func acceptsConnections(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}
