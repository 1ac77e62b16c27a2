import ArgumentParser
import AstraMCP
import ServiceLifecycle

struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Copy the tools of every active server (or of SERVER) into mcp_tools.",
        discussion: "Reads every page of tools/list. New tools are inserted, changed ones updated, vanished ones disabled (never deleted). Exits 1 if any server failed."
    )

    @OptionGroup var options: CommonOptions

    @Argument(help: "A server's name or id; all active servers when omitted.")
    var server: String?

    func run() async throws {
        var configuration = try options.load()
        configuration.syncOnStart = false
        let logger = options.logger(configuration)
        await runReportingErrors {
            let daemon = AstraDaemon(configuration: configuration, logger: logger)
            try await daemon.preflight()
            let parts = try daemon.makeParts()
            let results = try await withThrowingTaskGroup(of: [Result<ToolSyncer.Result, any Error>]?.self) { group in
                group.addTask { await parts.databaseService.run(); return nil }
                group.addTask { try await parts.pool.run(); return nil }
                group.addTask {
                    await parts.waitUntilDatabaseRuns()
                    let results = try await ToolSyncer(store: parts.servers, pool: parts.pool, logger: logger).syncAll(only: server)
                    parts.pool.shutdown()
                    return results
                }
                var results: [Result<ToolSyncer.Result, any Error>] = []
                while let next = try await group.next() {
                    if let next {
                        results = next
                        group.cancelAll()
                    }
                }
                return results
            }
            if results.isEmpty {
                throw SyncFailed(message: server.map { "no active server named '\($0)'" } ?? "no active servers")
            }
            var failures = 0
            for result in results {
                switch result {
                case .success(let synced): print("\(synced.server): \(synced.toolsOffered) tools, \(synced.toolsRemoved) disabled as removed")
                case .failure(let error):
                    failures += 1
                    print("error: \(error)")
                }
            }
            if failures > 0 { throw SyncFailed(message: "\(failures) server(s) failed to sync") }
        }
    }
}

struct SyncFailed: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
