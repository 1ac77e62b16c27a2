// astra-mcpd-demo-server: a small MCP server over stdio, for the demo, the
// benchmark and the tests. stdout carries the protocol, so every diagnostic
// (logs, usage errors, the banner) goes to stderr.

import Foundation
import Logging

let options: DemoServerOptions
do {
    options = try DemoServerOptions(arguments: CommandLine.arguments.dropFirst())
} catch {
    StandardError.write("astra-mcpd-demo-server: \(error)\n\n\(DemoServerOptions.usage)")
    exit(2)
}

if options.showHelp {
    print(DemoServerOptions.usage, terminator: "")
    exit(0)
}

LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .info
    return handler
}

if let banner = options.stderrBanner {
    StandardError.write(banner + "\n")
}

do {
    try await DemoServer(options: options).run()
} catch {
    StandardError.write("astra-mcpd-demo-server: \(error)\n")
    exit(1)
}
