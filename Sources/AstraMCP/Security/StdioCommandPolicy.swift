import Foundation

/// Which programs a stdio server row may start: the operator's allowlist (`stdio_commands`, in
/// the daemon's configuration, never in the database), of absolute paths and directory prefixes
/// (ending in `/`).
///
/// A row's `command` is resolved the way the child would find it (on the child's `PATH` when it
/// has no `/`), then to its real path, symlinks followed; that real path must be listed, or lie
/// under a listed directory, so a symlink in a listed directory cannot lead elsewhere. The child
/// is started by the absolute path found, not the real one: programs that look at the path they
/// were started by (a venv's `python`, multi-call binaries) must keep it.
///
/// The default is an empty list: no stdio server starts until the operator names its programs.
/// Whoever writes `mcp_servers` (a team admin, in the seed's design) is not the operator, and any
/// default that let an interpreter or a shell through (`/usr/bin/`) would run anything they write.
/// List servers' own executables, never a shell or an interpreter that takes code in its arguments.
public struct StdioCommandPolicy: Sendable, Equatable {
    /// Allowed absolute paths, and directories (ending in `/`) whose programs are allowed.
    public var allowed: [String]

    public init(allowed: [String]) {
        self.allowed = allowed
    }

    /// Parses `stdio_commands`: comma-separated absolute paths and directories (ending in `/`).
    static func parse(_ text: String) throws(ConfigurationError) -> StdioCommandPolicy {
        let entries = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for entry in entries where !entry.hasPrefix("/") {
            throw ConfigurationError("'\(entry)' is not an absolute path (stdio_commands lists absolute paths and directories ending in /)")
        }
        return StdioCommandPolicy(allowed: entries)
    }

    /// This policy, also allowing the program `command` names (found on `path` as the child would
    /// find it): for the demo, the benchmark and the tests, which start programs of their own.
    public func allowing(_ command: String, path: String = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin") -> StdioCommandPolicy {
        guard let found = Self.locate(command, path: path) else { return self }
        var policy = self
        policy.allowed.append(Self.realPath(found))
        return policy
    }

    /// Why a command may not run, said for the server's executions.
    public struct Refusal: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// The absolute path to start for `command`, or nil when it cannot be found (starting it then
    /// fails with the usual "not found").
    /// - Throws: ``Refusal`` when the program is not allowed.
    public func resolve(_ command: String, path: String) throws(Refusal) -> String? {
        guard let found = Self.locate(command, path: path) else { return nil }
        let real = Self.realPath(found)
        if allowed.contains(where: { entry in entry.hasSuffix("/") ? real.hasPrefix(Self.realDirectory(entry)) : Self.realPath(entry) == real }) {
            return found.hasPrefix("/") ? found : real
        }
        let shown = real == command ? "'\(command)'" : "'\(command)' (\(real))"
        let listed = allowed.isEmpty ? "the list is empty" : "allowed: \(allowed.joined(separator: ", "))"
        throw Refusal(description: "stdio command \(shown) is not in the daemon's stdio_commands (\(listed)); an operator allows it in the daemon's configuration")
    }

    /// `command` as the child would find it: itself when it has a `/`, else the first executable
    /// of that name on `path`.
    static func locate(_ command: String, path: String) -> String? {
        if command.contains("/") { return FileManager.default.fileExists(atPath: command) ? command : nil }
        for directory in path.split(separator: ":") where !directory.isEmpty {
            let candidate = directory + "/" + command
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    static func realPath(_ path: String) -> String {
        URL(fileURLWithPath: path).resolvingSymlinksInPath().path
    }

    /// A listed directory's real path, with its trailing `/`.
    static func realDirectory(_ entry: String) -> String {
        let real = realPath(String(entry.dropLast()))
        return real.hasSuffix("/") ? real : real + "/"
    }
}
