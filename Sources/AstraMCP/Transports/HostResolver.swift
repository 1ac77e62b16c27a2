import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Resolves a host name to its addresses, the way a connection would (getaddrinfo), so the
/// network policy judges the very addresses it will connect to.
struct HostResolver: Sendable {
    var resolve: @Sendable (_ host: String) async throws -> [IPAddress]

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// getaddrinfo, on NIO's blocking-I/O thread pool (it may wait on DNS; never on an event
    /// loop or a cooperative thread).
    static let system = HostResolver { host in
        if let literal = IPAddress(host) { return [literal] }
        return try await NIOThreadPool.singleton.runIfActive { try getaddrinfo(host) }
    }

    private static func getaddrinfo(_ host: String) throws -> [IPAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = Glibc.getaddrinfo(host, nil, &hints, &list)
        guard status == 0 else {
            throw Failure(description: "cannot resolve '\(host)': \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        var addresses: [IPAddress] = []
        var entry = list
        while let info = entry?.pointee {
            defer { entry = info.ai_next }
            guard let sockaddr = info.ai_addr else { continue }
            switch Int32(sockaddr.pointee.sa_family) {
            case AF_INET:
                sockaddr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
                    var address = pointer.pointee.sin_addr
                    if let ip = IPAddress(bytes: withUnsafeBytes(of: &address) { Array($0) }) { addresses.append(ip) }
                }
            case AF_INET6:
                sockaddr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                    var address = pointer.pointee.sin6_addr
                    if let ip = IPAddress(bytes: withUnsafeBytes(of: &address) { Array($0) }) { addresses.append(ip) }
                }
            default:
                continue
            }
        }
        var seen = Set<IPAddress>()
        return addresses.filter { seen.insert($0).inserted }
    }
}
