import CProcessControl
import Foundation

/// What the daemon does to itself before it holds any secret in reach of its children.
public enum ProcessHardening {
    /// Makes the daemon non-dumpable (`prctl(PR_SET_DUMPABLE, 0)`). A stdio server runs as the
    /// daemon's user, and could otherwise read `/proc/<daemon>/environ` (the database URL),
    /// `/proc/<daemon>/mem` (decrypted credentials) or attach with ptrace. It also means no core
    /// dumps, which would hold the same secrets.
    public static func makeNonDumpable() throws {
        guard astra_set_dumpable(0) == 0 else {
            throw HardeningError("could not make the daemon non-dumpable: \(String(cString: strerror(errno)))")
        }
    }

    /// Whether the process is dumpable now.
    public static var isDumpable: Bool { astra_get_dumpable() == 1 }
}

/// The daemon could not harden itself; the message says how.
public struct HardeningError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
