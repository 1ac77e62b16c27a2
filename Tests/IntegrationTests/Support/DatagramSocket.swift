import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Binds a unix datagram socket at `path` (close-on-exec), for the sockets that stand in for
/// systemd's: ``NotifySocket`` and ``JournalSocket``.
/// - Returns: Its descriptor.
func bindDatagramSocket(at path: String) throws -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw DeadlineExceeded(description: "socket: errno \(errno)") }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (index, byte) in path.utf8.enumerated() where index < raw.count - 1 { raw[index] = byte }
    }
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard bound == 0 else {
        Glibc.close(fd)
        throw DeadlineExceeded(description: "bind \(path): errno \(errno)")
    }
    return fd
}
