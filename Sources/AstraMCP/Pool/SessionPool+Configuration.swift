import Foundation

extension SessionPool {
    /// What the pool needs to know about its sessions.
    public struct Configuration: Sendable {
        public var initializeTimeout: Duration = .seconds(30)
        public var childExitGrace: Duration = .seconds(2)
        public var maxMessageBytes: Int = 16 << 20
        /// The longest wait before a server that keeps failing is started again; the waits grow
        /// exponentially from 0.5 s with jitter.
        public var restartBackoffMax: Duration = .seconds(60)
        /// How long an unused session stays open; zero keeps it.
        public var idleTimeout: Duration = .zero
        /// The most sessions per server, unless its config says `"sessions": N`.
        public var sessionsPerServer: Int = 1
        /// How long a remote server may stay silent (response head, or between reads).
        public var httpReadTimeout: Duration = .seconds(300)
        /// The most HTTP/1.1 connections kept to one host: each call in flight holds one while
        /// its reply streams, and each session's own GET stream holds one.
        public var httpConnectionsPerHost: Int = 34
        /// How long an unused HTTP connection is kept for reuse: less than the keep-alive
        /// timeout of common servers (5 s for uvicorn, Node.js, Apache), so the daemon closes an
        /// idle connection before its server does, never while reusing it.
        public var httpIdleTimeout: Duration = .seconds(4)
        public var daemonEnvironment: [String: String] = ProcessInfo.processInfo.environment
        /// The programs stdio servers may start.
        public var stdioCommands = StdioCommandPolicy(allowed: [])
        /// The sandbox stdio children run in, and what it hides from them.
        public var stdioSandbox = StdioSandbox.none
        public var hiddenFromChildren: [String] = []
        /// The addresses HTTP and SSE servers may be at.
        public var networkPolicy = NetworkPolicy()
        public init() {}

        /// The pool settings of a daemon configuration.
        public init(_ daemon: DaemonConfiguration) {
            initializeTimeout = daemon.initializeTimeout
            childExitGrace = daemon.childExitGrace
            maxMessageBytes = daemon.maxMessageBytes
            restartBackoffMax = daemon.restartBackoffMax
            idleTimeout = daemon.sessionIdleTimeout
            sessionsPerServer = daemon.sessionsPerServer
            httpReadTimeout = daemon.httpReadTimeout
            stdioCommands = daemon.stdioCommands
            networkPolicy = daemon.networkPolicy
            stdioSandbox = daemon.stdioSandbox
            // The daemon's secrets: its keys, what systemd hands it, its configuration.
            hiddenFromChildren = [daemon.credentialKeysDirectory, URL(fileURLWithPath: DaemonConfiguration.defaultFilePath).deletingLastPathComponent().path]
                + [ProcessInfo.processInfo.environment["CREDENTIALS_DIRECTORY"]].compactMap { $0 }
            // Each call in flight may hold a connection while its reply streams, and each
            // session's own GET stream holds one.
            httpConnectionsPerHost = daemon.maxInFlightPerServer + daemon.sessionsPerServer + 1
        }
    }
}
