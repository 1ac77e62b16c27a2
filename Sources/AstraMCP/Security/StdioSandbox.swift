import Foundation

/// Where stdio children run (`stdio_sandbox`): as plain children of the daemon's user, or each in
/// a bubblewrap sandbox of its own that hides the daemon's secrets from it.
///
/// A child runs as the daemon's user, so without a sandbox it can read whatever that user can:
/// the credential keys, the files systemd hands over in `$CREDENTIALS_DIRECTORY` (the database
/// URL), and the environment of a sibling child (another server's `config.env` credentials).
/// Under bubblewrap (`bwrap`, an unprivileged sandbox from the `bubblewrap` package) each child
/// gets:
/// - its own PID namespace with its own `/proc`: no other process is visible, neither the daemon
///   nor a sibling;
/// - an empty tmpfs over each hidden directory (the key directory, `$CREDENTIALS_DIRECTORY`, the
///   configuration directory) and `/dev/null` over each hidden file;
/// - its own IPC namespace and a minimal `/dev`; it dies with its sandbox.
/// The rest of the file system is as the daemon sees it (systemd's `ProtectSystem=` still
/// applies), and the network is shared: servers need it.
public struct StdioSandbox: Sendable, Equatable {
    /// The bwrap program; nil runs children unsandboxed.
    public var bwrap: String?
    /// Paths hidden from children besides the daemon's own secrets (`stdio_sandbox_hide`).
    public var extraHiddenPaths: [String]

    public init(bwrap: String? = nil, extraHiddenPaths: [String] = []) {
        self.bwrap = bwrap
        self.extraHiddenPaths = extraHiddenPaths
    }

    /// No sandbox.
    public static let none = StdioSandbox()

    /// Parses `stdio_sandbox`: `none`, `bwrap` (found on `PATH`) or bwrap's absolute path.
    static func parse(_ text: String, path: String = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin") throws(ConfigurationError) -> StdioSandbox {
        switch text {
        case "none", "":
            return .none
        case "bwrap":
            guard let found = StdioCommandPolicy.locate("bwrap", path: path) else {
                throw ConfigurationError("bwrap is not installed (the 'bubblewrap' package), or not on PATH; install it or set stdio_sandbox = none")
            }
            return StdioSandbox(bwrap: found)
        case let other where other.hasPrefix("/"):
            guard FileManager.default.isExecutableFile(atPath: other) else { throw ConfigurationError("'\(other)' is not an executable") }
            return StdioSandbox(bwrap: other)
        case let other:
            throw ConfigurationError("expected none, bwrap or the absolute path of bwrap, got '\(other)'")
        }
    }

    /// The program and arguments that start `command` with `arguments` in the sandbox, hiding
    /// `hidden` (paths that do not exist are skipped: bwrap cannot cover them).
    func wrap(command: String, arguments: [String], hiding hidden: [String]) -> (command: String, arguments: [String]) {
        guard let bwrap else { return (command, arguments) }
        var wrapper = [
            "--bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--unshare-pid", "--unshare-ipc", "--die-with-parent",
        ]
        // Unprivileged, bwrap needs a user namespace of its own to set the others up.
        if geteuid() != 0 { wrapper.append("--unshare-user") }
        var seen = Set<String>()
        for path in (hidden + extraHiddenPaths).map({ URL(fileURLWithPath: $0).standardized.path }) where seen.insert(path).inserted {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            wrapper += isDirectory.boolValue ? ["--tmpfs", path] : ["--ro-bind", "/dev/null", path]
        }
        return (bwrap, wrapper + ["--", command] + arguments)
    }
}
