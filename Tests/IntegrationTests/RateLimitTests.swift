import Foundation
import PostgresNIO
import Testing

@testable import AstraMCP

/// Rate limits per user and per team (`mcp_rate_limits`), enforced where executions are enqueued.
@Suite("Rate limits", .timeLimit(.minutes(2)))
struct RateLimitTests {
    @Test("over a user's limit an execution ends rate_limited, saying which limit and when it may run; other users and a team override are counted apart")
    func reject() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                let server = try await daemon.registerFastServer()
                try await daemon.sync(server)
                try await db.execute(
                    """
                    INSERT INTO mcp_rate_limits (team_id, scope, max_executions, window_seconds) VALUES (NULL, 'user', 3, 86400);
                    """)
                let alice = UUID(), bob = UUID()
                var ids: [UUID] = []
                for n in 0..<5 { ids.append(try await daemon.enqueue("add", on: server, arguments: #"{"a": \#(n), "b": 0}"#, user: alice)) }
                let bobs = try await daemon.enqueue("add", on: server, arguments: #"{"a": 1, "b": 1}"#, user: bob)
                let rows = try await db.waitUntilTerminal(ids + [bobs], "the executions")
                #expect(ids.prefix(3).allSatisfy { rows[$0]?.status == "success" })
                #expect(rows[bobs]?.status == "success", "another user has a count of their own")
                for id in ids.suffix(2) {
                    let row = try #require(rows[id])
                    #expect(row.status == "rate_limited")
                    let message = row.errorMessage ?? ""
                    #expect(message.hasPrefix("rate limit reached: 3 executions per 86400 s per user (the default limit); it may run from "), "\(message)")
                    #expect(message.hasSuffix("T00:00:00Z"), "a day's window ends at midnight UTC: \(message)")
                }

                // The team's own limit replaces the default for its users.
                try await db.execute("INSERT INTO mcp_rate_limits (team_id, scope, max_executions, window_seconds) VALUES ('\(daemon.team)', 'user', 1, 86400)")
                let carol = UUID()
                let first = try await daemon.enqueue("add", on: server, arguments: #"{"a": 1, "b": 2}"#, user: carol)
                let second = try await daemon.enqueue("add", on: server, arguments: #"{"a": 1, "b": 2}"#, user: carol)
                let team = try await db.waitUntilTerminal([first, second], "carol's executions")
                #expect(team[first]?.status == "success")
                #expect(team[second]?.status == "rate_limited")
                #expect(team[second]?.errorMessage?.contains("1 executions per 86400 s per user (the team's limit)") == true, "\(team[second]?.errorMessage ?? "")")

                // A refused execution's end is announced to its callback like any other.
                let refused = try await daemon.enqueue("add", on: server, arguments: #"{"a": 1, "b": 2}"#, user: carol, callbackURL: "http://127.0.0.1:9/hook")
                let deliveries = try await db.withConnection { connection in
                    try await connection.query(
                        "SELECT d.payload::jsonb->'data'->>'status' FROM mcp_callback_deliveries d WHERE d.execution_id = \(refused)", logger: TestLogging.logger
                    ).collect().map { try $0.decode(String?.self) }
                }
                #expect(deliveries == ["rate_limited"], "\(deliveries)")
            }
        }
    }

    @Test("a team-wide limit holds under concurrent inserts from many connections: exactly the limit runs")
    func concurrentInserts() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                let server = try await daemon.registerFastServer()
                try await daemon.sync(server)
                try await db.execute("INSERT INTO mcp_rate_limits (team_id, scope, max_executions, window_seconds) VALUES (NULL, 'team', 10, 86400)")
                let ids = try await withThrowingTaskGroup(of: [UUID].self) { group in
                    for n in 0..<8 {
                        group.addTask {
                            // Each statement inserts 4 rows: 32 in all.
                            let sql = TestDaemon.enqueueManySQL("add", serverID: server.id, team: daemon.team, count: 4, argumentsSQL: "jsonb_build_object('a', g + \(n * 10), 'b', 0)")
                            return try await db.withConnection { connection in
                                try await connection.query(PostgresQuery(unsafeSQL: sql), logger: TestLogging.logger).collect().map { try $0.decode(UUID.self) }
                            }
                        }
                    }
                    return try await group.reduce(into: []) { $0 += $1 }
                }
                #expect(ids.count == 32)
                let rows = try await db.waitUntilTerminal(ids, "the executions")
                let statuses = Dictionary(grouping: rows.values, by: \.status).mapValues(\.count)
                #expect(statuses == ["success": 10, "rate_limited": 22], "\(statuses)")
            }
        }
    }

    @Test("with on_limit = 'wait' an execution over the limit stays pending until the next window, then runs")
    func wait() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                let server = try await daemon.registerFastServer()
                try await daemon.sync(server)
                try await db.execute(
                    "INSERT INTO mcp_rate_limits (team_id, scope, max_executions, window_seconds, on_limit) VALUES (NULL, 'user', 1, 2, 'wait')")
                let user = UUID()
                let first = try await daemon.enqueue("add", on: server, arguments: #"{"a": 1, "b": 0}"#, user: user)
                let second = try await daemon.enqueue("add", on: server, arguments: #"{"a": 2, "b": 0}"#, user: user)
                let waiting = try await db.withConnection { connection in
                    try await connection.query(
                        """
                        SELECT e.rate_limited_until, q.available_at FROM mcp_tool_executions e JOIN mcp_execution_queue q ON q.execution_id = e.id
                        WHERE e.id = \(second)
                        """, logger: TestLogging.logger
                    ).collect()
                }
                // (It may already have run if the first window ended meanwhile: then there is no queue row.)
                if let row = waiting.first {
                    let (until, available) = try row.decode((Date?, Date).self)
                    let windowStart = try #require(until)
                    #expect(windowStart.timeIntervalSince1970.truncatingRemainder(dividingBy: 2) == 0, "a window start: \(windowStart)")
                    #expect(available == windowStart, "claimable from the window with room")
                }
                let rows = try await db.waitUntilTerminal([first, second], "both executions")
                #expect(rows[first]?.status == "success")
                let later = try #require(rows[second])
                #expect(later.status == "success", "\(later.errorMessage ?? "")")
                let until = try await db.withConnection { connection in
                    try await connection.query("SELECT rate_limited_until, started_at FROM mcp_tool_executions WHERE id = \(second)", logger: TestLogging.logger)
                        .collect()[0].decode((Date?, Date?).self)
                }
                if let windowStart = until.0, let started = until.1 {
                    #expect(started >= windowStart, "it ran only once its window began")
                }
            }
        }
    }

    @Test("counters of windows that have ended are deleted by the maintenance sweep's statement")
    func spentCounters() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                try await db.execute(
                    """
                    INSERT INTO mcp_rate_counters (team_id, user_id, window_seconds, window_start, window_end, executions) VALUES
                        (gen_random_uuid(), gen_random_uuid(), 60, now() - interval '2 minutes', now() - interval '1 minute', 5),
                        (gen_random_uuid(), gen_random_uuid(), 3600, now() - interval '1 minute', now() + interval '59 minutes', 5)
                    """)
                let store = QueueStore(database: daemon.database, workerID: "sweep", logger: TestLogging.logger, answerTimeout: .seconds(30))
                #expect(try await store.deleteSpentRateCounters() == 1)
                let left = try await db.withConnection { try await $0.query("SELECT count(*)::int FROM mcp_rate_counters", logger: TestLogging.logger).collect()[0].decode(Int.self) }
                #expect(left == 1, "the current window's counter stays")
            }
        }
    }

    @Test("two daemons share the limits: a team's executions split between them never exceed a window's allowance, waiting or refused")
    func sharedByTwoDaemons() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { first in
                try await TestDaemon.with(db) { second in
                    let server = try await first.registerFastServer()
                    try await first.sync(server)
                    try await db.execute(
                        "INSERT INTO mcp_rate_limits (team_id, scope, max_executions, window_seconds, on_limit) VALUES (NULL, 'user', 2, 2, 'wait')")
                    try await db.execute(
                        "INSERT INTO mcp_rate_limits (team_id, scope, max_executions, window_seconds, on_limit) VALUES ('\(first.team)', 'team', 5, 31622400, 'reject')")
                    let user = UUID()
                    var ids: [UUID] = []
                    // Enqueued through both daemons' connections, alternately.
                    for n in 0..<8 {
                        let via = n % 2 == 0 ? first : second
                        ids.append(try await via.enqueue("add", on: server, arguments: #"{"a": \#(n), "b": 0}"#, team: first.team, user: user))
                    }
                    let rows = try await db.waitUntilTerminal(ids, within: .seconds(60), "the executions")
                    let statuses = Dictionary(grouping: rows.values, by: \.status).mapValues(\.count)
                    #expect(statuses == ["success": 5, "rate_limited": 3], "the team's 5 a window: \(statuses)")
                    // The user's 2 per 2-second window: each execution was given a window with room
                    // (its enqueue's, or the later one it waited for), no window more than 2, and
                    // none started before its window (a loaded machine may start it later).
                    let windows = try await db.withConnection { connection in
                        try await connection.query(
                            """
                            SELECT floor(extract(epoch FROM coalesce(rate_limited_until, executed_at)) / 2)::bigint AS w, count(*)::int,
                                   bool_and(rate_limited_until IS NULL OR started_at >= rate_limited_until)
                            FROM mcp_tool_executions WHERE id = ANY(\(ids)) AND status = 'success' GROUP BY 1
                            """, logger: TestLogging.logger
                        ).collect().map { try $0.decode((Int64, Int, Bool).self) }
                    }
                    #expect(windows.allSatisfy { $0.1 <= 2 && $0.2 }, "at most 2 per window, none early: \(windows)")
                }
            }
        }
    }
}
