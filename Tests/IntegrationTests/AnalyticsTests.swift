import Foundation
import PostgresNIO
import Testing

@testable import AstraMCP

/// The seed's dashboard queries as views (migration 0016): right answers, and plans that read
/// only their window of a large table.
@Suite("Analytics views", .timeLimit(.minutes(3)))
struct AnalyticsTests {
    static let views = ["mcp_analytics_top_tools", "mcp_analytics_team_usage", "mcp_analytics_daily", "mcp_analytics_errors", "mcp_analytics_user_activity"]

    /// Every relation a plan reads with a sequential scan.
    static func sequentialScans(_ plan: Any) -> [String] {
        var found: [String] = []
        func walk(_ node: Any) {
            if let object = node as? [String: Any] {
                if object["Node Type"] as? String == "Seq Scan", let relation = object["Relation Name"] as? String { found.append(relation) }
                object.values.forEach(walk)
            } else if let array = node as? [Any] {
                array.forEach(walk)
            }
        }
        walk(plan)
        return found
    }

    @Test("on 300,000 executions over a year, each view reads only its window of mcp_tool_executions (no sequential scan of it), and counts right")
    func plansAndCounts() async throws {
        try await TestDatabase.with { db in
            let (team, other, server, tool, user) = (UUID(), UUID(), UUID(), UUID(), UUID())
            try await db.execute("INSERT INTO mcp_servers (id, team_id, name, server_type, config) VALUES ('\(server)', '\(team)', 'calc', 'stdio', '{}')")
            try await db.execute("INSERT INTO mcp_tools (id, server_id, tool_name, input_schema) VALUES ('\(tool)', '\(server)', 'add', '{}')")
            // A year of history for one team, spread evenly (about 820 a day)...
            try await db.execute(
                """
                INSERT INTO mcp_tool_executions (user_id, team_id, server_id, tool_id, input_parameters, status, executed_at, completed_at, duration_ms, error_message)
                SELECT ('00000000-0000-0000-0000-' || lpad((g % 50)::text, 12, '0'))::uuid, '\(team)', '\(server)', '\(tool)', '{}',
                       CASE WHEN g % 10 = 0 THEN 'error' ELSE 'success' END,
                       now() - make_interval(secs => g * 105.0), now() - make_interval(secs => g * 105.0), g % 1000,
                       CASE WHEN g % 10 = 0 THEN 'boom' END
                FROM generate_series(1, 300000) AS g
                """)
            // ...and, to count exactly, a handful of recent ones of another team's user.
            let otherServer = UUID()
            try await db.execute("INSERT INTO mcp_servers (id, team_id, name, server_type, config) VALUES ('\(otherServer)', '\(other)', 'calc', 'stdio', '{}')")
            let otherTool = UUID()
            try await db.execute("INSERT INTO mcp_tools (id, server_id, tool_name, input_schema) VALUES ('\(otherTool)', '\(otherServer)', 'add', '{}')")
            try await db.execute(
                """
                INSERT INTO mcp_tool_executions (user_id, team_id, server_id, tool_id, input_parameters, status, executed_at, completed_at, duration_ms, error_message)
                VALUES ('\(user)', '\(other)', '\(otherServer)', '\(otherTool)', '{}', 'success', now() - interval '1 hour', now(), 10, NULL),
                       ('\(user)', '\(other)', '\(otherServer)', '\(otherTool)', '{}', 'error', now() - interval '2 hours', now(), 30, 'refused'),
                       ('\(user)', '\(other)', '\(otherServer)', '\(otherTool)', '{}', 'error', now() - interval '3 days', now(), 20, 'refused'),
                       ('\(user)', '\(other)', '\(otherServer)', '\(otherTool)', '{}', 'success', now() - interval '40 days', now(), 99, NULL)
                """)
            try await db.execute("ANALYZE mcp_tool_executions")

            try await db.withConnection { connection in
                for view in Self.views {
                    let rows = try await connection.query(PostgresQuery(unsafeSQL: "EXPLAIN (FORMAT JSON) SELECT * FROM \(view)"), logger: TestLogging.logger).collect()
                    let plan = try JSONSerialization.jsonObject(with: Data(try rows[0].decode(String.self).utf8))
                    let scans = Self.sequentialScans(plan)
                    #expect(!scans.contains("mcp_tool_executions"), "\(view) scans the whole table: \(plan)")
                }
                func one<T: PostgresDecodable>(_ sql: String, _ type: T.Type) async throws -> T {
                    try await connection.query(PostgresQuery(unsafeSQL: sql), logger: TestLogging.logger).collect()[0].decode(T.self)
                }
                #expect(try await one("SELECT execution_count::int FROM mcp_analytics_top_tools WHERE team_id = '\(other)'", Int.self) == 3)
                #expect(try await one("SELECT error_count::int FROM mcp_analytics_top_tools WHERE team_id = '\(other)'", Int.self) == 2)
                #expect(try await one("SELECT total_executions::int FROM mcp_analytics_team_usage WHERE team_id = '\(other)'", Int.self) == 3)
                #expect(try await one("SELECT sum(failed)::int FROM mcp_analytics_daily WHERE team_id = '\(other)'", Int.self) == 2)
                #expect(try await one("SELECT occurrence_count::int FROM mcp_analytics_errors WHERE team_id = '\(other)' AND error_message = 'refused'", Int.self) == 2)
                #expect(try await one("SELECT executions::int FROM mcp_analytics_user_activity WHERE user_id = '\(user)'", Int.self) == 3)
                // The big team's 30 days: about 24,700 of its 300,000.
                let recent = try await one("SELECT total_executions::int FROM mcp_analytics_team_usage WHERE team_id = '\(team)'", Int.self)
                #expect(abs(recent - 24_685) <= 2, "\(recent)")
            }
        }
    }
}
