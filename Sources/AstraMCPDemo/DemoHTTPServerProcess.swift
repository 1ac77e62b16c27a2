import AstraMCP
import Foundation
import Synchronization

/// `astra-mcpd-demo-server --http 0` as a child process: the demo's and the benchmark's
/// Streamable HTTP server. It prints its URL on stdout once it listens.
public final class DemoHTTPServerProcess: @unchecked Sendable {
    /// Where the server listens, e.g. `http://127.0.0.1:40123/mcp`.
    public let url: String
    // Only touched by `start` and `stop`, which the owner calls in turn.
    private let process: Process

    private init(url: String, process: Process) {
        self.url = url
        self.process = process
    }

    /// Starts the server and waits (up to `timeout`) for the URL it prints.
    public static func start(executable: String, timeout: Duration = .seconds(20)) async throws -> DemoHTTPServerProcess {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["--http", "0"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        let (lines, continuation) = AsyncStream<String>.makeStream()
        let received = Mutex(Data())
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                continuation.finish()
                return
            }
            let line: String? = received.withLock { received in
                received.append(data)
                guard let newline = received.firstIndex(of: 0x0A) else { return nil }
                return String(decoding: received[..<newline], as: UTF8.self)
            }
            if let line {
                continuation.yield(line)
                continuation.finish()
            }
        }
        do {
            try process.run()
        } catch {
            throw DemoError("could not start \(executable): \(error)")
        }
        let url = await withTaskGroup(of: String?.self) { group in
            group.addTask { await lines.first { _ in true } }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        output.fileHandleForReading.readabilityHandler = nil
        guard let url, url.hasPrefix("http://") else {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
            throw DemoError("\(executable) --http 0 did not say where it listens")
        }
        return DemoHTTPServerProcess(url: url, process: process)
    }

    /// Stops the server (SIGTERM) and waits for it to exit.
    public func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }
}

/// A demo or benchmark step that could not be done.
struct DemoError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
