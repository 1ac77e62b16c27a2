import Foundation
import PostgresNIO
import Testing

@testable import AstraMCP

#if canImport(Glibc)
import Glibc
#endif

/// `systemctl reload` (SIGHUP) on a real daemon process, with a socket standing in for
/// systemd's `NOTIFY_SOCKET`.
extension DaemonProcessTests {
    private func configurationFile(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("astra-mcpd-reload-\(UUID().uuidString).conf").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("SIGHUP: RELOADING=1 with MONOTONIC_USEC then READY=1; live settings apply without dropping the call in flight, restart-only ones are named; an invalid file keeps the old configuration")
    func reload() async throws {
        let socket = try NotifySocket()
        defer { socket.close() }
        let path = try configurationFile("log_level = info\nmax_concurrency = 4\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await TestDatabase.with { db in
            let daemon = try DaemonProcess(["run", "--config", path], environment: environment(db, ["NOTIFY_SOCKET": socket.path]))
            defer { daemon.kill() }
            _ = try await socket.wait(for: "READY=1") { $0 == "READY=1" }
            let inFlight = try await enqueueSleep(db, seconds: 2)
            try await waitUntilRunning(db, inFlight, daemon)
            #expect(!daemon.standardError.contains("debug claimed"), "info level at start")

            // A valid file: the log level and concurrency apply now; the pool size waits.
            try "log_level = debug\nmax_concurrency = 8\ndatabase_pool_size = 3\n".write(toFile: path, atomically: true, encoding: .utf8)
            daemon.hangUp()
            try await eventually(.seconds(20), "the reload's log lines; stderr: \(daemon.standardError)") {
                daemon.standardError.contains("needs_restart=database_pool_size")
            }
            let reloaded = daemon.standardError.split(separator: "\n").first { $0.contains("configuration reloaded") }
            #expect(reloaded?.contains("changed=log_level,max_concurrency") == true, "\(daemon.standardError)")
            _ = try await socket.wait(for: "READY=1 after the reload") { _ in socket.fields.filter { $0 == "READY=1" }.count == 2 }
            let fields = socket.fields
            let reloading = try #require(fields.firstIndex(of: "RELOADING=1"), "\(fields)")
            #expect(reloading > fields.firstIndex(of: "READY=1")!)
            #expect(fields.lastIndex(of: "READY=1")! > reloading)
            // MONOTONIC_USEC is CLOCK_MONOTONIC when the reload began.
            let stamp = try #require(fields[reloading + 1].split(separator: "=").last.flatMap { UInt64($0) }, "\(fields)")
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let nowMicroseconds = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
            #expect(fields[reloading + 1].hasPrefix("MONOTONIC_USEC="))
            #expect(stamp <= nowMicroseconds && nowMicroseconds - stamp < 60_000_000)

            // The call in flight during the reload finished, once.
            try await eventually(.seconds(30), "the call in flight to finish") { try await row(db, inFlight).status == "success" }
            // The new level is in force: the next claim is logged at debug.
            let second = try await enqueueSleep(db, seconds: 0)
            try await eventually(.seconds(30), "a debug line for the next claim") { daemon.standardError.contains("execution=\(second)") }

            // An invalid file: one line, and the old configuration stays.
            try "log_level = loud\n".write(toFile: path, atomically: true, encoding: .utf8)
            daemon.hangUp()
            try await eventually(.seconds(20), "the refusal") { daemon.standardError.contains("configuration reload refused") }
            let refusals = daemon.standardError.split(separator: "\n").filter { $0.contains("reload refused") }
            #expect(refusals.count == 1)
            #expect(refusals.first?.contains("log_level") == true, "the line names the key: \(refusals)")
            _ = try await socket.wait(for: "READY=1 after the refused reload") { _ in socket.fields.filter { $0 == "READY=1" }.count == 3 }
            let third = try await enqueueSleep(db, seconds: 0)
            try await eventually(.seconds(30), "still debug after the refusal") { daemon.standardError.contains("execution=\(third)") }

            daemon.terminate()
            #expect(try await daemon.waitForExit() == 0, "\(daemon.standardError)")
        }
    }

    @Test("a reload that takes a program off stdio_commands: the call in flight on it finishes, and a new server running it is refused")
    func reloadNarrowsStdioCommands() async throws {
        let path = try configurationFile("stdio_commands = \(TestDaemon.stdioCommandsSetting)\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await TestDatabase.with { db in
            let daemon = try DaemonProcess(["run", "--config", path], environment: environment(db), unsetting: ["ASTRA_MCPD_STDIO_COMMANDS"])
            defer { daemon.kill() }
            let inFlight = try await enqueueSleep(db, seconds: 2)
            // Reported progress: the call has reached the server (claimed alone, its session may
            // not have started yet, and would start under the new list).
            try await eventually(.seconds(30), "the call to report progress; stderr: \(daemon.standardError)") {
                try await db.withConnection { connection in
                    try await connection.query("SELECT progress IS NOT NULL FROM mcp_tool_executions WHERE id = \(inFlight)", logger: TestLogging.logger)
                        .collect()[0].decode(Bool.self)
                }
            }
            try "stdio_commands = /nonexistent/\n".write(toFile: path, atomically: true, encoding: .utf8)
            daemon.hangUp()
            try await eventually(.seconds(20), "the reload; stderr: \(daemon.standardError)") { daemon.standardError.contains("changed=stdio_commands") }
            try await eventually(.seconds(30), "the call in flight to finish") { try await row(db, inFlight).status == "success" }
            let refused = try await enqueueSleep(db, seconds: 0)
            try await eventually(.seconds(30), "the next to be refused") { try await row(db, refused).status == "error" }
            #expect(try await row(db, refused).error?.contains("stdio_commands") == true)
            daemon.terminate()
            #expect(try await daemon.waitForExit() == 0, "\(daemon.standardError)")
        }
    }
}
