import Foundation
import PostgresNIO
import Testing

@testable import AstraMCP

/// The native journal protocol of a real daemon process, against a socket standing in for
/// journald at its own path (in a mount namespace of the test's own).
extension DaemonProcessTests {
    @Test("journald: records carry EXECUTION_ID, SERVER_ID, SERVER_NAME, TOOL, TEAM_ID, STATUS, DURATION_MS, ATTEMPT; none per execution at info; no secret")
    func journalFields() async throws {
        let journal = try JournalSocket()
        defer { journal.close() }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("astra-mcpd-journal-\(UUID().uuidString).conf").path
        try "log_level = info\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await TestDatabase.with { db in
            let daemon = try DaemonProcess(
                ["run", "--config", path], environment: environment(db, ["ASTRA_MCPD_LOG_TARGET": "journal"]), wrapper: journal.wrapper)
            defer { daemon.kill() }
            try await eventually(.seconds(30), "the start record; stderr: \(daemon.standardError)") {
                journal.received.contains { $0["MESSAGE"] == "queue worker started" }
            }
            // At info, executions leave no record of their own.
            var quiet: [UUID] = []
            for _ in 0..<5 { quiet.append(try await enqueueSleep(db, seconds: 0)) }
            for id in quiet { try await eventually(.seconds(30), "execution \(id)") { try await row(db, id).status == "success" } }
            let perExecution = journal.received.filter { record in quiet.contains { record["EXECUTION_ID"] == "\($0)" } }
            #expect(perExecution.isEmpty, "\(perExecution)")

            // At debug (a reload), the records of one execution carry every field that applies.
            try "log_level = debug\n".write(toFile: path, atomically: true, encoding: .utf8)
            daemon.hangUp()
            try await eventually(.seconds(20), "the reload record") { journal.received.contains { $0["MESSAGE"] == "configuration reloaded" } }
            let id = try await enqueueSleep(db, seconds: 0)
            try await eventually(.seconds(30), "the execution's outcome record") {
                journal.received.contains { $0["EXECUTION_ID"] == "\(id)" && $0["MESSAGE"] == "execution success" }
            }
            let (serverID, teamID) = try await db.withConnection { connection in
                try await connection.query("SELECT server_id, team_id FROM mcp_tool_executions WHERE id = \(id)", logger: TestLogging.logger)
                    .collect()[0].decode((UUID, UUID).self)
            }
            let outcome = try #require(journal.received.first { $0["EXECUTION_ID"] == "\(id)" && $0["MESSAGE"] == "execution success" })
            #expect(outcome["SERVER_ID"] == "\(serverID)")
            #expect(outcome["SERVER_NAME"] == "demo")
            #expect(outcome["TOOL"] == "sleep")
            #expect(outcome["TEAM_ID"] == "\(teamID)")
            #expect(outcome["STATUS"] == "success")
            #expect(outcome["ATTEMPT"] == "1")
            #expect(outcome["DURATION_MS"].flatMap { Int($0) } != nil, "\(outcome)")
            #expect(outcome["PRIORITY"] == "7")
            #expect(outcome["SYSLOG_IDENTIFIER"] == "astra-mcpd")
            let claimed = try #require(journal.received.first { $0["EXECUTION_ID"] == "\(id)" && $0["MESSAGE"] == "claimed" })
            #expect(claimed["SERVER_NAME"] == "demo" && claimed["TEAM_ID"] == "\(teamID)")
            // A session's records name its server, by name and id.
            let started = try #require(journal.received.first { $0["MESSAGE"] == "server process started" && $0["SERVER_ID"] == "\(serverID)" })
            #expect(started["SERVER_NAME"] == "demo")
            // The database URL's password is in no record.
            if let password = URLComponents(string: db.url)?.password, !password.isEmpty {
                #expect(!journal.received.contains { $0.values.contains { $0.contains(password) } })
            }
            daemon.terminate()
            #expect(try await daemon.waitForExit() == 0, "\(daemon.standardError)")
        }
    }
}
