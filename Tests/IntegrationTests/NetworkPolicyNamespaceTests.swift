import AstraMCPDemo
import Foundation
import Subprocess
import Testing

@testable import AstraMCP

/// The network policy end to end, with the daemon inside a network namespace of the test's own:
/// loopback only and no route out, so even a policy that failed could send nothing off the host.
/// The daemon reaches PostgreSQL through its Unix socket, which the namespace does not cut.
@Suite("Network policy in a namespace", .timeLimit(.minutes(2)))
struct NetworkPolicyNamespaceTests {
    func run(_ arguments: [String]) async throws -> Bool {
        try await Subprocess.run(.path("/usr/sbin/ip"), arguments: Arguments(arguments), output: .discarded, error: .discarded).terminationStatus.isSuccess
    }

    @Test("metadata, a denied private address, and a name that resolves to metadata are refused before any connection")
    func refusedInNamespace() async throws {
        try TestPaths.requireExecutable("/usr/sbin/ip", hint: "iproute2's ip makes the test's network namespace")
        let namespace = "astra-\(UUID().uuidString.prefix(8).lowercased())"
        guard try await run(["netns", "add", namespace]) else {
            Issue.record("cannot create a network namespace (needs root)")
            return
        }
        // `ip netns exec` shows /etc/netns/<name>/hosts as /etc/hosts inside the namespace.
        let hostsDirectory = "/etc/netns/\(namespace)"
        try FileManager.default.createDirectory(atPath: hostsDirectory, withIntermediateDirectories: true)
        try "127.0.0.1 localhost\n169.254.169.254 metadata.test\n".write(toFile: hostsDirectory + "/hosts", atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: hostsDirectory) }
        let cluster = try await EphemeralPostgres.start(logger: TestLogging.logger)
        do {
            _ = try await run(["netns", "exec", namespace, "ip", "link", "set", "lo", "up"])
            let db = try await TestDatabase.create(migrated: true, on: cluster.url)
            let port = URLComponents(string: cluster.url)?.port ?? 5432
            let socketURL = "postgres://postgres@/\(db.name)?host=\(cluster.socketDirectory)&port=\(port)"

            let team = UUID()
            var expectations: [(UUID, String)] = []
            for (name, url, expected) in [
                ("metadata", "http://169.254.169.254/mcp", "network policy: 169.254.169.254 is link-local, where cloud metadata services answer, which is always refused"),
                ("private", "http://10.1.2.3:8080/mcp", "network policy: 10.1.2.3 is in 10.0.0.0/8, which the daemon's network_deny refuses"),
                ("by-name", "http://metadata.test/mcp", "network policy: 'metadata.test' resolves to 169.254.169.254 is link-local"),
            ] {
                let (server, tool, execution) = (UUID(), UUID(), UUID())
                try await db.execute("INSERT INTO mcp_servers (id, team_id, name, server_type, config) VALUES ('\(server)', '\(team)', '\(name)', 'http', '{\"url\": \"\(url)\"}')")
                try await db.execute("INSERT INTO mcp_tools (id, server_id, tool_name, input_schema, max_attempts) VALUES ('\(tool)', '\(server)', 'echo', '{}', 1)")
                try await db.execute("""
                    INSERT INTO mcp_tool_executions (id, user_id, team_id, server_id, tool_id, input_parameters)
                    VALUES ('\(execution)', '\(UUID())', '\(team)', '\(server)', '\(tool)', '{}')
                    """)
                expectations.append((execution, expected))
            }
            let daemon = try DaemonProcess(
                ["run"],
                environment: [
                    "ASTRA_MCPD_DATABASE_URL": socketURL, "ASTRA_MCPD_LOG_TARGET": "stderr", "ASTRA_MCPD_SYNC_ON_START": "false",
                    "ASTRA_MCPD_POLL_INTERVAL_SECONDS": "1", "ASTRA_MCPD_RETRY_MAX_ATTEMPTS": "1",
                ],
                wrapper: ["/usr/sbin/ip", "netns", "exec", namespace])
            defer { daemon.kill() }
            let rows = try await db.waitUntilTerminal(expectations.map(\.0), "the refused executions; stderr: \(daemon.standardError.suffix(2000))")
            for (execution, expected) in expectations {
                let row = try #require(rows[execution])
                #expect(row.status == "error")
                #expect(row.errorMessage?.contains(expected) == true, "\(row.errorMessage ?? "nil")")
            }
            daemon.terminate()
            _ = try await daemon.waitForExit()
        } catch {
            await cluster.stop()
            _ = try? await run(["netns", "del", namespace])
            throw error
        }
        await cluster.stop()
        _ = try await run(["netns", "del", namespace])
    }
}
