import Foundation

/// The command-line options, parsed by hand to keep the demo server free of
/// an ArgumentParser dependency.
struct DemoServerOptions: Sendable {
    /// How many tools one `tools/list` page holds.
    var pageSize = 2
    /// Text written to stderr at start, for tests that read a child's stderr.
    var stderrBanner: String?
    /// Exit with status 3 on `initialize`, without answering it.
    var exitDuringInitialize = false
    /// Print the usage and exit.
    var showHelp = false
    /// Serve Streamable HTTP on this port (0: any free one) instead of stdio.
    var httpPort: Int?
    /// The address `--http` listens on.
    var httpHost = "127.0.0.1"

    static let usage = """
        Usage: astra-mcpd-demo-server [options]

        A small MCP server speaking JSON-RPC over stdin/stdout, with the tools
        echo, add, sleep and fail. Logs go to stderr.

        Options:
          --page-size N             Tools per tools/list page (default 2).
          --stderr-banner TEXT      Write TEXT to stderr at start.
          --exit-during-initialize  On initialize, write a note to stderr and
                                    exit with status 3 without answering.
          --http PORT               Serve MCP's Streamable HTTP transport on
                                    http://127.0.0.1:PORT/mcp instead of stdio
                                    (0 picks a free port). The URL is printed
                                    on stdout once the server listens.
          --host ADDRESS            The address --http listens on
                                    (default 127.0.0.1).
          -h, --help                Show this help.

        """

    init(arguments: some Sequence<String>) throws(UsageError) {
        var arguments = arguments.makeIterator()
        while let argument = arguments.next() {
            switch argument {
            case "--page-size":
                guard let value = arguments.next(), let pageSize = Int(value), pageSize > 0 else {
                    throw UsageError("--page-size needs a positive integer")
                }
                self.pageSize = pageSize
            case "--stderr-banner":
                guard let banner = arguments.next() else {
                    throw UsageError("--stderr-banner needs a text")
                }
                stderrBanner = banner
            case "--exit-during-initialize":
                exitDuringInitialize = true
            case "--http":
                guard let value = arguments.next(), let port = Int(value), (0...65535).contains(port) else {
                    throw UsageError("--http needs a port number (0 for any free port)")
                }
                httpPort = port
            case "--host":
                guard let host = arguments.next(), !host.isEmpty else { throw UsageError("--host needs an address") }
                httpHost = host
            case "-h", "--help":
                showHelp = true
            default:
                throw UsageError("unknown option '\(argument)'")
            }
        }
    }
}

/// A malformed command line.
struct UsageError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}

/// Unbuffered writes to stderr (stdout belongs to the protocol).
enum StandardError {
    static func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
