import Foundation
#if canImport(Glibc)
import Glibc
#endif
import CProcessControl
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

        /// Collects what `handle` delivers until its end, on a thread of its own doing blocking
        /// reads: the kernel says when the pipe ends (Foundation's readability handler does not
        /// always call back at the end).
        func collect(_ handle: FileHandle) {
            let fd = handle.fileDescriptor
            let thread = Thread { [self] in
                var buffer = [UInt8](repeating: 0, count: 65536)
                while true {
                    let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                    if count < 0 && errno == EINTR { continue }
                    guard count > 0 else { break }
                    append(Data(buffer[0..<count]))
                }
                withExtendedLifetime(handle) { end() }
            }
            thread.start()
        }
    }

    /// Starts `astra-mcpd <arguments>` with the test process's environment minus every
    /// `ASTRA_MCPD_*` variable, plus `environment`.
    /// - Parameter wrapper: A command that runs the daemon (e.g. `setpriv` to run it as another user).
    /// - Parameter unsetting: Variables of the defaults above to leave out (so a test's file sets them).
    init(_ arguments: [String], environment: [String: String] = [:], wrapper: [String] = [], unsetting: [String] = []) throws {
        try TestPaths.requireExecutable(TestPaths.daemon, hint: "build it with 'swift build --product astra-mcpd'")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: wrapper.first ?? TestPaths.daemon)
        process.arguments = wrapper.isEmpty ? arguments : Array(wrapper.dropFirst()) + [TestPaths.daemon] + arguments
        var inherited = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("ASTRA_MCPD_") && $0.key != "NOTIFY_SOCKET" }
        // The tests' stdio programs may start, unless the test says otherwise.
        inherited["ASTRA_MCPD_STDIO_COMMANDS"] = TestDaemon.stdioCommandsSetting
        inherited["ASTRA_MCPD_NETWORK_ALLOW"] = "127.0.0.0/8,::1/128"
        for name in unsetting { inherited[name] = nil }
        inherited.merge(environment) { $1 }
        process.environment = inherited
        process.standardInput = FileHandle.nullDevice
        // Pipes close-on-exec from birth (pipe2), so no other child this test process starts
        // meanwhile (a server, another daemon) holds a write end, which would keep the pipe from
        // ever ending; the daemon gets its copies by dup2, which clears the flag.
        let (outRead, outWrite) = try Self.pipe()
        let (errRead, errWrite) = try Self.pipe()
        process.standardOutput = outWrite
        process.standardError = errWrite
        self.process = process
        stdout.collect(outRead)
        stderr.collect(errRead)
        try process.run()
        try outWrite.close()
        try errWrite.close()
    }

    private static func pipe() throws -> (read: FileHandle, write: FileHandle) {
        var fds: [Int32] = [0, 0]
        guard astra_pipe_cloexec(&fds) == 0 else { throw DeadlineExceeded(description: "pipe2 failed: errno \(errno)") }
        return (FileHandle(fileDescriptor: fds[0], closeOnDealloc: true), FileHandle(fileDescriptor: fds[1], closeOnDealloc: true))
    }

    /// Sends SIGTERM.
    func terminate() {
        Glibc.kill(process.processIdentifier, SIGTERM)
    }

    /// Sends SIGHUP, as `systemctl reload` does.
    func hangUp() {
        Glibc.kill(process.processIdentifier, SIGHUP)
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
            if ContinuousClock.now >= deadline {
                throw DeadlineExceeded(
                    description: "astra-mcpd's output did not end within \(limit) (stdout ended: \(stdout.ended), stderr ended: \(stderr.ended))")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
    }
}
