import ArgumentParser
import AstraMCP
import Foundation
import Logging

/// `astra-mcpd status`: what is live, read from the database, so it works from any host.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the live daemons, the queue, recent throughput and errors, the servers and the callback backlog.",
        discussion: "Read from the database in one statement: it works from any host that reaches it, whichever daemons run."
    )

    @OptionGroup var options: CommonOptions

    @Flag(name: .long, help: "Print one JSON document, for scripts.")
    var json = false

    @Option(name: .long, help: "Refresh every this many seconds, in place, until interrupted.")
    var watch: Double?

    func run() async throws {
        let configuration = try options.load()
        let logger = options.logger(configuration)
        if let watch, !(watch > 0) { CommonOptions.fail("--watch takes a number of seconds > 0", code: 2) }
        await runReportingErrors {
            let url = try DatabaseURL(configuration.requireDatabaseURL())
            try await url.withConnection(logger: logger) { connection in
                repeat {
                    let snapshot = try await StatusStore.snapshotJSON(on: connection, logger: logger)
                    if json {
                        print(snapshot)
                    } else {
                        let text = try StatusReport(json: snapshot).text
                        // In place, like top: home the cursor and clear the screen.
                        print(watch == nil ? text : "\u{1B}[H\u{1B}[2J" + text, terminator: watch == nil ? "\n" : "")
                    }
                    if let watch { try await Task.sleep(for: .seconds(watch)) }
                } while watch != nil
            }
        }
    }
}

/// The status document as a plain report for a person.
struct StatusReport {
    let document: [String: Any]

    init(json: String) throws {
        guard let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
            throw ConfigurationError("the status document is not an object")
        }
        document = object
    }

    private func object(_ key: String) -> [String: Any] { document[key] as? [String: Any] ?? [:] }
    private func list(_ key: String) -> [[String: Any]] { document[key] as? [[String: Any]] ?? [] }
    private static func int(_ value: Any?) -> Int { (value as? NSNumber)?.intValue ?? 0 }
    private static func seconds(_ value: Any?) -> String {
        guard let seconds = (value as? NSNumber)?.doubleValue else { return "-" }
        switch seconds {
        case ..<60: return String(format: "%.1f s", seconds)
        case ..<3600: return String(format: "%.0f min", seconds / 60)
        default: return String(format: "%.1f h", seconds / 3600)
        }
    }
    private static func rate(_ failed: Int, _ total: Int) -> String {
        total == 0 ? "-" : String(format: "%.1f %%", Double(failed) * 100 / Double(total))
    }

    /// Columns padded to their widest cell.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        return ([header] + rows).map { row in
            "  " + row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    var text: String {
        var lines: [String] = ["astra-mcpd status at \(document["now"] as? String ?? "?")", ""]
        let instances = list("instances")
        lines.append("Daemons: \(instances.count) live")
        if !instances.isEmpty {
            lines.append(Self.table(
                ["INSTANCE", "HOST", "PID", "VERSION", "STARTED", "IN FLIGHT"],
                instances.map { [$0["instance_id"] as? String ?? "", $0["hostname"] as? String ?? "", "\(Self.int($0["pid"]))",
                                 $0["version"] as? String ?? "", $0["started_at"] as? String ?? "", "\(Self.int($0["in_flight"]))"] }))
        }
        let queue = object("queue")
        lines += ["", "Queue: \(Self.int(queue["ready"])) ready (oldest waiting \(Self.seconds(queue["oldest_ready_seconds"]))), "
            + "\(Self.int(queue["running"])) running, \(Self.int(queue["waiting"])) waiting to retry or for a rate limit, "
            + "\(Self.int(queue["awaiting_confirmation"])) awaiting confirmation"]
        let executions = object("executions")
        let (f5, e5, f60, e60) = (Self.int(executions["finished_5m"]), Self.int(executions["failed_5m"]), Self.int(executions["finished_60m"]), Self.int(executions["failed_60m"]))
        lines.append("Executions: \(String(format: "%.1f", Double(f5) / 5))/min over 5 min (errors \(Self.rate(e5, f5))), "
            + "\(String(format: "%.1f", Double(f60) / 60))/min over 60 min (errors \(Self.rate(e60, f60)))")
        let callbacks = object("callbacks")
        lines.append("Callbacks: \(Self.int(callbacks["backlog"])) to deliver (oldest \(Self.seconds(callbacks["oldest_seconds"])))")
        let servers = list("servers")
        lines += ["", "Servers: \(servers.count)"]
        if !servers.isEmpty {
            lines.append(Self.table(
                ["NAME", "TYPE", "STATUS", "HEALTH", "CIRCUIT", "SESSIONS", "LAST ERROR"],
                servers.prefix(500).map { server in
                    let active = server["active"] as? Bool ?? true
                    let healthy = server["healthy"] as? Bool ?? true
                    return [
                        server["name"] as? String ?? "", server["type"] as? String ?? "",
                        active ? server["status"] as? String ?? "" : "inactive", healthy ? "ok" : "failing",
                        server["circuit"] as? String ?? "", "\(Self.int(server["sessions"]))",
                        String((server["last_error"] as? String ?? "").prefix(60)),
                    ]
                }))
            if servers.count > 500 { lines.append("  … and \(servers.count - 500) more (--json lists all)") }
        }
        return lines.joined(separator: "\n")
    }
}
