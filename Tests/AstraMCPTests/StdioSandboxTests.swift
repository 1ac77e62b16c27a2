import Foundation
import Testing

@testable import AstraMCP

@Suite("StdioSandbox")
struct StdioSandboxTests {
    @Test("without a sandbox the command runs as it is")
    func none() {
        let wrapped = StdioSandbox.none.wrap(command: "/opt/mcp/bin/server", arguments: ["--x"], hiding: ["/etc"])
        #expect(wrapped.command == "/opt/mcp/bin/server" && wrapped.arguments == ["--x"])
    }

    @Test("bwrap gets its own PID and IPC namespaces, a tmpfs over each hidden directory and /dev/null over each hidden file; missing paths are skipped")
    func wrapped() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("astra-hide-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/database-url"
        FileManager.default.createFile(atPath: file, contents: Data("postgres://x".utf8))
        let sandbox = StdioSandbox(bwrap: "/usr/bin/bwrap", extraHiddenPaths: [file])
        let wrapped = sandbox.wrap(command: "/opt/mcp/bin/server", arguments: ["--x"], hiding: [directory + "/", "/nonexistent/keys", directory])
        #expect(wrapped.command == "/usr/bin/bwrap")
        let arguments = wrapped.arguments
        #expect(arguments.suffix(3) == ["--", "/opt/mcp/bin/server", "--x"])
        #expect(arguments.contains("--unshare-pid") && arguments.contains("--unshare-ipc") && arguments.contains("--die-with-parent"))
        let text = arguments.joined(separator: " ")
        #expect(text.contains("--proc /proc"))
        #expect(text.components(separatedBy: "--tmpfs \(directory) ").count == 2, "each path once: \(text)")
        #expect(text.contains("--ro-bind /dev/null \(file)"))
        #expect(!text.contains("/nonexistent/keys"))
    }

    @Test("stdio_sandbox takes none, bwrap (found on PATH) or an absolute path; anything else is an error naming the choices")
    func parsing() throws {
        #expect(try StdioSandbox.parse("none") == .none)
        #expect(throws: ConfigurationError.self) { try StdioSandbox.parse("bwrap", path: "/nonexistent") }
        #expect(throws: ConfigurationError.self) { try StdioSandbox.parse("/nonexistent/bwrap") }
        #expect(throws: ConfigurationError.self) { try StdioSandbox.parse("firejail") }
        var configuration = DaemonConfiguration()
        try configuration.apply(fileText: "stdio_sandbox_hide = /srv/private, /var/lib/x", source: "t")
        #expect(configuration.stdioSandbox.extraHiddenPaths == ["/srv/private", "/var/lib/x"])
        #expect(throws: ConfigurationError.self) { try configuration.apply(fileText: "stdio_sandbox_hide = relative/path", source: "t") }
    }
}
