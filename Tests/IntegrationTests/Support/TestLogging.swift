import Foundation
import Logging

/// Quiet by default; `ASTRA_MCPD_TEST_LOG_LEVEL=debug swift test` shows the daemon's logs.
enum TestLogging {
    static let logger: Logger = {
        guard let name = ProcessInfo.processInfo.environment["ASTRA_MCPD_TEST_LOG_LEVEL"], let level = Logger.Level(rawValue: name) else {
            return Logger(label: "astra-mcpd-tests", factory: { _ in SwiftLogNoOpLogHandler() })
        }
        var logger = Logger(label: "astra-mcpd-tests", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = level
        return logger
    }()
}
