import Foundation
import Testing

@testable import AstraMCP

/// `astra-mcpd status`, run as a process against the database a live daemon uses.
@Suite("astra-mcpd status", .timeLimit(.minutes(2)))
struct StatusCommandTests {
    func status(_ db: TestDatabase, _ arguments: [String]) async throws -> (code: Int32, output: String) {
        let process = try DaemonProcess(["status"] + arguments, environment: ["ASTRA_MCPD_DATABASE_URL": db.url])
        let code = try await process.waitForExit()
        return (code, process.standardOutput + (code == 0 ? "" : process.standardError))
    }

    @Test("shows the live instance, its sessions to each server, the queue, throughput and errors; --json for scripts")
    func liveDaemon() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                let server = try await daemon.registerFastServer()
                try await daemon.sync(server)
                #expect(try await daemon.run("add", on: server, arguments: #"{"a": 1, "b": 2}"#).status == "success")
                #expect(try await daemon.run("add", on: server, arguments: #"{"a": "x", "b": 2}"#).status == "error")

                // The heartbeat (every 5 s) reports the session the calls opened.
                try await eventually(.seconds(30), "the heartbeat to report the server's session") {
                    let (code, output) = try await status(db, ["--json"])
                    guard code == 0, let document = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any],
                        let servers = document["servers"] as? [[String: Any]]
                    else { return false }
                    return servers.contains { $0["name"] as? String == server.name && ($0["sessions"] as? Int ?? 0) >= 1 }
                }
                let (code, output) = try await status(db, ["--json"])
                #expect(code == 0)
                let document = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
                let instances = try #require(document["instances"] as? [[String: Any]])
                #expect(instances.count == 1)
                #expect(instances.first?["version"] as? String == AstraMCPVersion.current)
                let executions = try #require(document["executions"] as? [String: Any])
                #expect(executions["finished_5m"] as? Int == 2 && executions["failed_5m"] as? Int == 1, "\(executions)")
                let queue = try #require(document["queue"] as? [String: Any])
                #expect(queue["ready"] as? Int == 0 && queue["running"] as? Int == 0, "\(queue)")

                let (plainCode, text) = try await status(db, [])
                #expect(plainCode == 0)
                #expect(text.contains("Daemons: 1 live"), "\(text)")
                #expect(text.contains("errors 50.0 %"), "\(text)")
                #expect(text.split(separator: "\n").contains { $0.contains(server.name) && $0.contains("connected") }, "\(text)")
            }
            // A clean stop removes the instance.
            let (_, after) = try await status(db, ["--json"])
            let document = try #require(try JSONSerialization.jsonObject(with: Data(after.utf8)) as? [String: Any])
            #expect((document["instances"] as? [Any])?.isEmpty == true, "\(after)")
        }
    }
}
