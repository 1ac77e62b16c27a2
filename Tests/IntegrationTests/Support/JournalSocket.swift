import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A unix datagram socket standing in for journald's native socket
/// (`/run/systemd/journal/socket`): collects every record a daemon sends, parsed from the
/// native protocol (`KEY=value` lines, or `KEY`, a little-endian 64-bit length and the bytes for
/// a value holding a newline).
///
/// The daemon reaches it at journald's path through ``wrapper``: its own mount namespace, a
/// tmpfs over /run and this socket's directory bound at /run/systemd/journal.
final class JournalSocket: Sendable {
    let directory: String
    private let fd: Int32
    private let records = Mutex<[[String: String]]>([])

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("astra-journal-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/socket"
        fd = try bindDatagramSocket(at: path)
        var size: Int32 = 8 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        let socketFD = fd
        Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let count = buffer.withUnsafeMutableBytes { recv(socketFD, $0.baseAddress, $0.count, 0) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { return }
                let record = Self.parse(buffer[0..<count])
                records.withLock { $0.append(record) }
            }
        }.start()
    }

    /// The command that runs the daemon with this socket at journald's path.
    var wrapper: [String] {
        [
            "/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
            "mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal && mount --bind '\(directory)' /run/systemd/journal && exec \"$@\"",
            "sh",
        ]
    }

    /// Every record received so far.
    var received: [[String: String]] { records.withLock { $0 } }

    /// Parses one datagram of the native protocol.
    static func parse(_ bytes: ArraySlice<UInt8>) -> [String: String] {
        var fields: [String: String] = [:]
        var index = bytes.startIndex
        while index < bytes.endIndex {
            guard let end = bytes[index...].firstIndex(where: { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "=") }) else { break }
            let name = String(decoding: bytes[index..<end], as: UTF8.self)
            if bytes[end] == UInt8(ascii: "=") {
                let valueEnd = bytes[(end + 1)...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.endIndex
                fields[name] = String(decoding: bytes[(end + 1)..<valueEnd], as: UTF8.self)
                index = valueEnd + 1
            } else {
                // Binary-safe: the length, little-endian, then the value and a newline.
                let lengthStart = end + 1
                guard lengthStart + 8 <= bytes.endIndex else { break }
                var length = 0
                for offset in 0..<8 { length |= Int(bytes[lengthStart + offset]) << (8 * offset) }
                let valueStart = lengthStart + 8
                guard valueStart + length <= bytes.endIndex else { break }
                fields[name] = String(decoding: bytes[valueStart..<(valueStart + length)], as: UTF8.self)
                index = valueStart + length + 1
            }
        }
        return fields
    }

    func close() {
        shutdown(fd, Int32(SHUT_RDWR))
        Glibc.close(fd)
        try? FileManager.default.removeItem(atPath: directory)
    }
}
