import Foundation
import Testing

@testable import AstraMCP

/// The operator's allowlist of stdio programs, on real files and symlinks in a scratch directory.
@Suite("Stdio command policy")
struct StdioCommandPolicyTests {
    /// A directory with `bin/server` (executable), `other/tool`, and `bin/sneaky` → `other/tool`.
    func withTree(_ body: (String) throws -> Void) throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("astra-policy-\(UUID().uuidString)").resolvingSymlinksInPath().path
        defer { try? FileManager.default.removeItem(atPath: root) }
        for directory in ["bin", "other"] { try FileManager.default.createDirectory(atPath: "\(root)/\(directory)", withIntermediateDirectories: true) }
        for file in ["bin/server", "other/tool"] {
            FileManager.default.createFile(atPath: "\(root)/\(file)", contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o755])
        }
        try FileManager.default.createSymbolicLink(atPath: "\(root)/bin/sneaky", withDestinationPath: "\(root)/other/tool")
        try body(root)
    }

    @Test("a listed path or a program under a listed directory runs, by the path found; a name is found on PATH")
    func allowed() throws {
        try withTree { root in
            let byDirectory = StdioCommandPolicy(allowed: ["\(root)/bin/"])
            let listedDirectory = try byDirectory.resolve("\(root)/bin/server", path: "")
            let onPath = try byDirectory.resolve("server", path: "/nonexistent:\(root)/bin")
            let byPath = try StdioCommandPolicy(allowed: ["\(root)/other/tool"]).resolve("\(root)/other/tool", path: "")
            #expect(listedDirectory == "\(root)/bin/server")
            #expect(onPath == "\(root)/bin/server")
            #expect(byPath == "\(root)/other/tool")
        }
    }

    @Test("anything else is refused with a message naming the program and the key; a symlink out of a listed directory does not pass")
    func refused() throws {
        try withTree { root in
            let policy = StdioCommandPolicy(allowed: ["\(root)/bin/"])
            let outside = #expect(throws: StdioCommandPolicy.Refusal.self) { try policy.resolve("\(root)/other/tool", path: "") }
            #expect(outside?.description.contains("stdio_commands") == true)
            let sneaky = #expect(throws: StdioCommandPolicy.Refusal.self) { try policy.resolve("\(root)/bin/sneaky", path: "") }
            #expect(sneaky?.description.contains("\(root)/other/tool") == true, "the message names where it really leads")
            let prefixOnly = StdioCommandPolicy(allowed: ["\(root)/bi/"])
            #expect(throws: StdioCommandPolicy.Refusal.self) { try prefixOnly.resolve("\(root)/bin/server", path: "") }
            let empty = #expect(throws: StdioCommandPolicy.Refusal.self) { try StdioCommandPolicy(allowed: []).resolve("\(root)/bin/server", path: "") }
            #expect(empty?.description.contains("the list is empty") == true)
        }
    }

    @Test("a program that does not exist resolves to nothing (starting it fails as not found)")
    func missing() throws {
        let absolute = try StdioCommandPolicy(allowed: []).resolve("/nonexistent/x", path: "")
        let name = try StdioCommandPolicy(allowed: []).resolve("no-such-program-here", path: "/usr/bin:/bin")
        #expect(absolute == nil && name == nil)
    }

    @Test("stdio_commands takes comma-separated absolute entries; a relative one is an error")
    func parse() throws {
        var configuration = DaemonConfiguration()
        try configuration.apply(fileText: "stdio_commands = /opt/mcp/bin/, /usr/local/bin/n8n-mcp", source: "t")
        #expect(configuration.stdioCommands.allowed == ["/opt/mcp/bin/", "/usr/local/bin/n8n-mcp"])
        #expect(throws: ConfigurationError.self) { try configuration.apply(fileText: "stdio_commands = bin/", source: "t") }
        #expect(DaemonConfiguration().stdioCommands.allowed.isEmpty, "none by default")
    }
}
