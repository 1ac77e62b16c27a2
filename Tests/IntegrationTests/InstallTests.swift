import Foundation
import Subprocess
import Testing

@testable import AstraMCP

/// `make install`, into a DESTDIR and into a prefix of the test's own, and the installed unit
/// checked by systemd's own tools.
@Suite("make install", .timeLimit(.minutes(2)))
struct InstallTests {
    func run(_ command: String, _ arguments: [String]) async throws -> (status: Bool, output: String) {
        let result = try await Subprocess.run(
            command.hasPrefix("/") ? .path(.init(command)) : .name(command), arguments: Arguments(arguments), workingDirectory: .init(TestPaths.repositoryRoot.path),
            output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
        return (result.terminationStatus.isSuccess, result.standardOutput + result.standardError)
    }

    func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("astra-install-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test("DESTDIR and PREFIX: the binary, migrations, unit, sysusers.d, tmpfiles.d and configuration land where expected; the configuration is never overwritten")
    func destdir() async throws {
        let destination = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: destination) }
        let make = ["install", "DESTDIR=\(destination)", "PREFIX=/usr", "BINARY=\(TestPaths.daemon)"]
        let first = try await run("make", make)
        #expect(first.status, "\(first.output)")
        for file in [
            "usr/bin/astra-mcpd", "usr/share/astra-mcpd/migrations/0001_seed_tables.sql", "usr/share/astra-mcpd/migrations/roles/roles.sql",
            "usr/lib/systemd/system/astra-mcpd.service", "usr/lib/sysusers.d/astra-mcpd.conf", "usr/lib/tmpfiles.d/astra-mcpd.conf",
            "etc/astra-mcpd/astra-mcpd.conf",
        ] {
            #expect(FileManager.default.fileExists(atPath: destination + "/" + file), "\(file)")
        }
        let migrations = try FileManager.default.contentsOfDirectory(atPath: destination + "/usr/share/astra-mcpd/migrations").filter { $0.hasSuffix(".sql") }
        #expect(migrations.count == (try Migration.bundled()).count, "every migration")
        let unit = try String(contentsOfFile: destination + "/usr/lib/systemd/system/astra-mcpd.service", encoding: .utf8)
        #expect(unit.contains("ExecStart=/usr/bin/astra-mcpd run"), "the unit names the installed binary")
        // The installed binary finds the installed migrations (../share/astra-mcpd/migrations).
        let found = try await run(destination + "/usr/bin/astra-mcpd", ["check-config", "--database-url", "postgres://nobody@127.0.0.1:1/none"])
        #expect(!found.output.contains("cannot find the migrations"), "\(found.output)")

        // An operator's configuration survives a reinstall.
        let configuration = destination + "/etc/astra-mcpd/astra-mcpd.conf"
        try "max_concurrency = 8\n".write(toFile: configuration, atomically: true, encoding: .utf8)
        #expect(try await run("make", make).status)
        #expect(try String(contentsOfFile: configuration, encoding: .utf8) == "max_concurrency = 8\n")
    }

    @Test("the installed unit passes systemd-analyze verify, and its exposure stays at 2.0 or below")
    func unitVerifies() async throws {
        try TestPaths.requireExecutable("/usr/bin/systemd-analyze", hint: "systemd's systemd-analyze")
        let prefix = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: prefix) }
        // A prefix of the test's own, so the unit's ExecStart names a binary that exists.
        #expect(try await run("make", ["install", "PREFIX=\(prefix)", "SYSCONFDIR=\(prefix)/etc", "BINARY=\(TestPaths.daemon)"]).status)
        let unit = prefix + "/lib/systemd/system/astra-mcpd.service"
        let verify = try await run("systemd-analyze", ["verify", unit])
        #expect(verify.status && verify.output.isEmpty, "\(verify.output)")
        let security = try await run("systemd-analyze", ["security", "--offline=yes", unit])
        let score = security.output.split(separator: "\n").last { $0.contains("Overall exposure level") }
            .flatMap { line in line.split(separator: " ").compactMap { Double($0) }.first }
        #expect(score != nil && score! <= 2.0, "\(security.output.suffix(300))")
    }
}
