import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The real `astra-mcpd` binary as a child process, its stdout and stderr collected.
final class DaemonProcess: Sendable {
    private let process: Process
    private let stderr = OutputBuffer()
    private let stdout = OutputBuffer()

    /// A pipe's bytes so far, and whether it reached its end.
    final class OutputBuffer: Sendable {
        private let data = Mutex<(bytes: Data, ended: Bool)>((Data(), false))
        func append(_ bytes: Data) { data.withLock { $0.bytes.append(bytes) } }
        func end() { data.withLock { $0.ended = true } }
        var text: String { data.withLock { String(decoding: $0.bytes, as: UTF8.self) } }
        var ended: Bool { data.withLock { $0.ended } }

        /// Collects what `pipe` delivers until its end.
        func collect(_ pipe: Pipe) {
            pipe.fileHandleForReading.readabilityHandler = { [self] handle in
                let data = handle.availableData
                if data.isEmpty {
                    handle.readabilityHandler = nil
                    end()
                } else {
                    append(data)
                }
            }
        }
    }

    /// Starts `astra-mcpd <arguments>` with the test process's environment minus every
    /// `ASTRA_MCPD_*` variable, plus `environment`.
    /// - Parameter wrapper: A command that runs the daemon (e.g. `setpriv` to run it as another user).
    init(_ arguments: [String], environment: [String: String] = [:], wrapper: [String] = []) throws {
        try TestPaths.requireExecutable(TestPaths.daemon, hint: "build it with 'swift build --product astra-mcpd'")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: wrapper.first ?? TestPaths.daemon)
        process.arguments = wrapper.isEmpty ? arguments : Array(wrapper.dropFirst()) + [TestPaths.daemon] + arguments
        var inherited = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("ASTRA_MCPD_") && $0.key != "NOTIFY_SOCKET" }
        // The tests' stdio programs may start, unless the test says otherwise.
        inherited["ASTRA_MCPD_STDIO_COMMANDS"] = TestDaemon.stdioCommandsSetting
        inherited["ASTRA_MCPD_NETWORK_ALLOW"] = "127.0.0.0/8,::1/128"
        inherited.merge(environment) { $1 }
        process.environment = inherited
        process.standardInput = FileHandle.nullDevice
        let (outPipe, errPipe) = (Pipe(), Pipe())
        process.standardOutput = outPipe
        process.standardError = errPipe
        self.process = process
        stdout.collect(outPipe)
        stderr.collect(errPipe)
        try process.run()
    }

    /// Sends SIGTERM.
    func terminate() {
        Glibc.kill(process.processIdentifier, SIGTERM)
    }

    /// Sends SIGKILL: the daemon dies at once, as in a crash or the OOM killer.
    func kill() {
        Glibc.kill(process.processIdentifier, SIGKILL)
    }

    var processIdentifier: Int32 { process.processIdentifier }

    var standardError: String {
        stderr.text
    }

    /// What the process wrote to stdout so far.
    var standardOutput: String {
        stdout.text
    }

    /// Waits for the process to exit; returns its status. Kills it and fails after `limit`.
    func waitForExit(_ limit: Duration = .seconds(60)) async throws -> Int32 {
        let deadline = ContinuousClock.now + limit
        while process.isRunning {
            if ContinuousClock.now >= deadline {
                Glibc.kill(process.processIdentifier, SIGKILL)
                throw DeadlineExceeded(description: "astra-mcpd did not exit within \(limit); stderr: \(standardError)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        // The last bytes: both pipes reach their end once the process (and any child holding
        // them) has gone.
        while !(stdout.ended && stderr.ended) {
            if ContinuousClock.now >= deadline { throw DeadlineExceeded(description: "astra-mcpd's output did not end within \(limit)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
    }
}
