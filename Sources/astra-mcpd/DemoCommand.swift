import AstraMCPDemo
import ArgumentParser
import AstraMCP
import Foundation

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Show the whole path: a throwaway PostgreSQL, the demo server, a few executions, their outcomes.",
        discussion: "With no database configured it starts a throwaway local PostgreSQL from the installed binaries and removes it afterwards."
    )

    @OptionGroup var options: CommonOptions

    @Option(name: .long, help: "The demo MCP server's executable (default: astra-mcpd-demo-server next to this binary).")
    var demoServer: String?

    func run() async throws {
        var configuration = try options.load()
        if options.logLevel == nil { configuration.logLevel = .warning }
        let logger = options.logger(configuration)
        let server = demoServer ?? siblingExecutable("astra-mcpd-demo-server")
        await runReportingErrors {
            try await DemoRunner(configuration: configuration, demoServerPath: server, logger: logger).run()
        }
    }
}

/// An executable installed next to this one.
func siblingExecutable(_ name: String) -> String {
    let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent(name).path
}
