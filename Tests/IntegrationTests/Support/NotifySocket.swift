import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A unix datagram socket standing in for systemd's `NOTIFY_SOCKET`: collects every message a
/// daemon sends (`READY=1`, `STATUS=…`, `WATCHDOG=1`, `STOPPING=1`), each with when it came.
final class NotifySocket: Sendable {
    let path: String
    private let fd: Int32
    private let messages = Mutex<[(at: ContinuousClock.Instant, fields: [String])]>([])

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("astra-notify-\(UUID().uuidString.prefix(8)).sock").path
        fd = try bindDatagramSocket(at: path)
        // The daemon may run as another user (nobody) in some tests.
        chmod(path, 0o777)
        let socketFD = self.fd
        Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = buffer.withUnsafeMutableBytes { recv(socketFD, $0.baseAddress, $0.count, 0) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { return }
                let text = String(decoding: buffer[0..<count], as: UTF8.self)
                let fields = text.split(separator: "\n").map(String.init)
                messages.withLock { $0.append((ContinuousClock.now, fields)) }
            }
        }.start()
    }

    /// Every field received so far, in order (`READY=1`, `STATUS=…`).
    var fields: [String] { messages.withLock { $0.flatMap(\.fields) } }

    /// When each message holding `field` came.
    func times(of field: String) -> [ContinuousClock.Instant] {
        messages.withLock { $0.filter { $0.fields.contains(field) }.map(\.at) }
    }

    /// Waits until a field satisfying `matches` has come; returns it.
    func wait(_ limit: Duration = .seconds(30), for what: String, _ matches: @escaping @Sendable (String) -> Bool) async throws -> String {
        try await eventually(limit, what) { self.fields.contains(where: matches) }
        return fields.first(where: matches)!
    }

    func close() {
        shutdown(fd, Int32(SHUT_RDWR))
        Glibc.close(fd)
        unlink(path)
    }
}
