import Foundation

/// Where the programs the integration tests start are.
enum TestPaths {
    /// The package root: this file is `Tests/IntegrationTests/Support/TestPaths.swift`.
    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The directory of the built products: the one the test bundle runs from (so a custom
    /// `--scratch-path` works), else `.build/debug`.
    static let productsDirectory: URL = {
        let testBinary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let beside = URL(fileURLWithPath: testBinary).deletingLastPathComponent()
        if FileManager.default.isExecutableFile(atPath: beside.appendingPathComponent("astra-mcpd").path) { return beside }
        return repositoryRoot.appendingPathComponent(".build/debug")
    }()

    /// The `astra-mcpd` command line, built as a product of the package.
    static var daemon: String { productsDirectory.appendingPathComponent("astra-mcpd").path }

    /// `astra-mcpd-demo-server` (tools echo, add, sleep, fail).
    static var demoServer: String { productsDirectory.appendingPathComponent("astra-mcpd-demo-server").path }

    /// `mcp-server-time`, installed into `.venv` by `scripts/setup.sh`.
    static var timeServer: String { repositoryRoot.appendingPathComponent(".venv/bin/mcp-server-time").path }

    /// The standard-library-only Python server with one tool, `add`.
    static var fastServer: String { repositoryRoot.appendingPathComponent("Tests/Fixtures/fast_server.py").path }

    /// Checks that `path` is an executable file, with a message saying how to get it.
    static func requireExecutable(_ path: String, hint: String) throws {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw MissingProgram(description: "\(path) is missing: \(hint)")
        }
    }

    struct MissingProgram: Error, CustomStringConvertible {
        var description: String
    }
}
