import Foundation

@testable import AstraMCP

/// The state directory of one `Tests/Fixtures/flaky_server.py`: the switches a test flips and
/// the traces the server leaves (see the fixture's header).
struct FlakyServer: Sendable {
    let directory: String

    static var script: String { TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures/flaky_server.py").path }

    /// A fresh, empty state directory; removed by `remove()`.
    static func make() throws -> FlakyServer {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("astra-flaky-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return FlakyServer(directory: directory)
    }

    /// Runs `body` with a fresh state directory, removing it afterwards.
    static func with<T: Sendable>(_ body: (FlakyServer) async throws -> T) async throws -> T {
        let server = try make()
        defer { server.remove() }
        return try await body(server)
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }

    /// The `mcp_servers.config` arguments that start it.
    var args: [String] { ["-u", Self.script, directory] }

    private func path(_ name: String) -> String { directory + "/" + name }

    /// Makes the server fail to start (`true`) or start again (`false`).
    func setDown(_ down: Bool) throws {
        if down {
            _ = FileManager.default.createFile(atPath: path("down"), contents: Data())
        } else {
            try? FileManager.default.removeItem(atPath: path("down"))
        }
    }

    /// Every tools/call is recorded and never answered (`true`), or answered again (`false`).
    func setHoldCalls(_ hold: Bool) throws { try setSwitch("hold-calls", hold) }

    /// A process started while this is on never answers a tools/call, however long it lives.
    func setHang(_ hang: Bool) throws { try setSwitch("hang", hang) }

    private func setSwitch(_ name: String, _ on: Bool) throws {
        if on {
            _ = FileManager.default.createFile(atPath: path(name), contents: Data())
        } else {
            try? FileManager.default.removeItem(atPath: path(name))
        }
    }

    /// Waits until `tool` was called at least `count` times: the server logs each call before
    /// acting on it, so this is the event "the call reached the server".
    func waitForCalls(_ tool: String, _ count: Int, within limit: Duration = .seconds(30)) async throws {
        try await eventually(limit, "\(count) calls of \(tool) to reach the server (seen \(calls(tool)))") { calls(tool) >= count }
    }

    /// The next `count` tools/calls exit the server instead of answering.
    func crashOnCall(_ count: Int) throws {
        try "\(count)".write(toFile: path("crash-on-call"), atomically: true, encoding: .utf8)
    }

    /// How many times `tool` was called.
    func calls(_ tool: String) -> Int { lines("calls-" + tool).count }

    /// How many times tools/list was asked.
    var toolListings: Int { lines("tools-list").count }

    /// Waits until tools/list was asked at least once and then not again for `quiet`: the
    /// syncs a new server gets (at insert, after each connect) are over, and a test can change
    /// the server's row without racing them.
    func waitForSyncsToSettle(quiet: Duration = .milliseconds(500), within limit: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + limit
        var seen = -1
        while true {
            let now = toolListings
            if now > 0 && now == seen { return }
            guard ContinuousClock.now < deadline else { throw DeadlineExceeded(description: "tool syncs of \(directory) did not settle within \(limit): \(now) listings, pids \(pids)") }
            seen = now
            try await Task.sleep(for: quiet)
        }
    }

    /// The pid of the server's latest start, if it started.
    var pid: pid_t? {
        (try? String(contentsOfFile: path("pid"), encoding: .utf8)).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Every pid the server ever had.
    var pids: [pid_t] { lines("pids").compactMap { pid_t($0) } }

    private func lines(_ name: String) -> [String] {
        ((try? String(contentsOfFile: path(name), encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }
}

/// Whether a process with this pid exists (and is not a zombie).
func isAlive(_ pid: pid_t) -> Bool {
    guard kill(pid, 0) == 0 || errno == EPERM else { return false }
    let status = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    // The state follows the parenthesised command name: "Z" is a zombie, as good as gone.
    guard let close = status.lastIndex(of: ")") else { return true }
    return !status[status.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
}

/// Pids of live processes whose command line contains `text`.
func processes(mentioning text: String) -> [pid_t] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { pid_t($0) }.filter { pid in
        guard pid != getpid(), let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        return String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self).contains(text) && isAlive(pid)
    }
}

extension DaemonConfiguration {
    /// Lifecycle timings short enough for tests: health checks every 0.5 s, restarts after at
    /// most 0.2 s, retries from 0.1 s; scheduled tool syncs effectively off (one at insert).
    mutating func useShortLifecycleIntervals() {
        healthCheckInterval = .milliseconds(500)
        healthCheckTimeout = .seconds(5)
        restartBackoffMax = .milliseconds(200)
        retry.baseDelay = .milliseconds(100)
        retry.maxDelay = .seconds(1)
        toolSyncInterval = .seconds(3600)
    }
}
