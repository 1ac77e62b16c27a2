import AstraMCPDemo
import ArgumentParser
import AstraMCP
import Foundation
import Prometheus

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure throughput, pickup latency, the direct-call ceiling, memory and idle CPU.",
        discussion: "Use a release build. With no database configured it starts a throwaway local PostgreSQL."
    )

    @OptionGroup var options: CommonOptions

    @Option(name: .long, help: "Executions to enqueue.")
    var count: Int = 20_000

    @Option(name: .long, help: "Concurrent calls (the daemon's max_concurrency).")
    var concurrency: Int = 64

    @Option(name: .long, help: "Single inserts used to measure pickup latency.")
    var latencySamples: Int = 300

    @Option(name: .long, help: "Seconds the idle daemon's CPU time is measured over.")
    var idleSeconds: Int = 10

    @Flag(name: .long, help: "Load pg_stat_statements in the throwaway PostgreSQL and print the busiest statements.")
    var statementStatistics = false

    @Flag(name: .long, help: "Only measure JSON Schema validation of tool arguments (no database, no servers).")
    var schemaOnly = false

    @Flag(name: .long, help: "Record metrics with the Prometheus backend, as 'run' does with metrics_listen set (default: off, as 'run' without it).")
    var metrics = false

    @Option(name: .long, help: "The demo MCP server's executable (default: astra-mcpd-demo-server next to this binary).")
    var demoServer: String?

    @Option(name: .long, help: "A stdio MCP server command whose per-call cost is negligible (default: python3 Tests/Fixtures/fast_server.py).")
    var fastServer: String?

    func run() async throws {
        if schemaOnly {
            print(JSONSchemaBenchmark.run())
            return
        }
        var configuration = try options.load()
        if options.logLevel == nil { configuration.logLevel = .warning }
        configuration.maxConcurrency = concurrency
        configuration.maxInFlightPerServer = concurrency
        let logger = options.logger(configuration)
        let fast = fastServer ?? "python3 " + URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Tests/Fixtures/fast_server.py").path
        // Before the daemon's parts are made: they take their handles from this backend.
        let registry = metrics ? EngineMetrics.bootstrapPrometheus() : nil
        await runReportingErrors {
            try await Benchmark(
                configuration: configuration, logger: logger, count: count, latencySamples: latencySamples,
                idleSeconds: idleSeconds,
                servers: [
                    .init(label: "fast (negligible per-call cost)", command: fast.split(separator: " ").map(String.init)),
                    .init(label: "demo (Swift SDK server)", command: [demoServer ?? siblingExecutable("astra-mcpd-demo-server")]),
                    .init(
                        label: "demo over Streamable HTTP (Swift SDK server)", command: [demoServer ?? siblingExecutable("astra-mcpd-demo-server")],
                        overHTTP: true),
                ],
                statementStatistics: statementStatistics
            ).run()
            if let registry {
                let started = ContinuousClock.now
                let scrape = registry.emitToBuffer()
                print("\nmetrics (Prometheus backend): one scrape of \(scrape.count) bytes took \(ContinuousClock.now - started)")
            }
            print("\n" + JSONSchemaBenchmark.run().description)
        }
    }
}
