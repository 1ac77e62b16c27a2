import Foundation
import Testing

@testable import AstraMCP

@Suite("DaemonConfiguration")
struct DaemonConfigurationTests {
    private func applied(_ text: String, source: String = "test.conf") throws(ConfigurationError) -> DaemonConfiguration {
        var configuration = DaemonConfiguration()
        try configuration.apply(fileText: text, source: source)
        return configuration
    }

    @Test("defaults are the documented ones")
    func defaults() {
        let configuration = DaemonConfiguration()
        #expect(configuration.databaseURL == nil)
        #expect(configuration.maxConcurrency == 64)
        #expect(configuration.claimBatchSize == 64)
        #expect(configuration.completionBatchSize == 200)
        #expect(configuration.pollInterval == .seconds(5))
        #expect(configuration.leaseDuration == .seconds(30))
        #expect(configuration.statementTimeout == .seconds(30))
        #expect(configuration.lockTimeout == .seconds(5))
        #expect(configuration.shutdownGrace == .seconds(30))
        #expect(configuration.syncOnStart)
        #expect(configuration.logLevel == .info)
        #expect(configuration.logTarget == .auto)
    }

    @Test("keys, quoted values, comments and blank lines are applied")
    func fileKeys() throws {
        let configuration = try applied("""
            # a comment
            database_url = "postgres://u@db/x"

              max_concurrency=12
            shutdown_grace_seconds = 0.5
            sync_on_start = off
            log_level = DEBUG
            log_target = stderr
            """)
        #expect(configuration.databaseURL == "postgres://u@db/x")
        #expect(configuration.maxConcurrency == 12)
        #expect(configuration.shutdownGrace == .milliseconds(500))
        #expect(!configuration.syncOnStart)
        #expect(configuration.logLevel == .debug)
        #expect(configuration.logTarget == .stderr)
    }

    @Test("an unknown key is an error naming the key and file:line")
    func unknownKey() {
        let error = #expect(throws: ConfigurationError.self) {
            try applied("max_concurrency = 4\n# comment\nmax_concurency = 8\n", source: "/etc/a.conf")
        }
        #expect(error?.description == "/etc/a.conf:3: unknown key 'max_concurency'")
    }

    @Test(
        "a value of the wrong type or range names the key and line",
        arguments: [
            ("max_concurrency = lots", "expected an integer, got 'lots'"),
            ("max_concurrency = 0", "out of range"),
            ("poll_interval_seconds = 0", "more than 0"),
            ("lease_seconds = soon", "expected a number of seconds"),
            ("sync_on_start = maybe", "expected true or false"),
            ("log_level = loud", "expected one of"),
        ])
    func wrongType(line: String, detail: String) {
        let key = line.split(separator: " ")[0]
        let error = #expect(throws: ConfigurationError.self) { try applied("\n" + line, source: "f.conf") }
        #expect(error?.description.hasPrefix("f.conf:2: key '\(key)': ") == true)
        #expect(error?.description.contains(detail) == true)
    }

    @Test("a line without '=' is an error")
    func missingEquals() {
        let error = #expect(throws: ConfigurationError.self) { try applied("max_concurrency 4") }
        #expect(error?.description == "test.conf:1: expected 'key = value', got 'max_concurrency 4'")
    }

    @Test("ASTRA_MCPD_ variables override the file")
    func environmentOverride() throws {
        try withConfigFile("max_concurrency = 4\nworker_id = from-file\n") { path in
            let configuration = try DaemonConfiguration.load(
                path: path,
                environment: ["ASTRA_MCPD_MAX_CONCURRENCY": "16", "PATH": "/bin", "OTHER": "x"])
            #expect(configuration.maxConcurrency == 16)
            #expect(configuration.workerID == "from-file")
        }
    }

    @Test("a bad ASTRA_MCPD_ value names the variable")
    func badEnvironmentValue() {
        let error = #expect(throws: ConfigurationError.self) {
            try DaemonConfiguration.load(path: nil, environment: ["ASTRA_MCPD_MAX_CONCURRENCY": "many"])
        }
        #expect(error?.description.hasPrefix("ASTRA_MCPD_MAX_CONCURRENCY: ") == true)
    }

    @Test("an unknown ASTRA_MCPD_ variable is an error")
    func unknownEnvironmentVariable() {
        let error = #expect(throws: ConfigurationError.self) {
            try DaemonConfiguration.load(path: nil, environment: ["ASTRA_MCPD_MAX_CONCURENCY": "8"])
        }
        #expect(error?.description.contains("ASTRA_MCPD_MAX_CONCURENCY") == true)
        #expect(error?.description.contains("'max_concurency'") == true)
    }

    @Test("a --config file that cannot be read is an error")
    func missingFile() {
        let error = #expect(throws: ConfigurationError.self) {
            try DaemonConfiguration.load(path: "/nonexistent/astra-mcpd.conf", environment: [:])
        }
        #expect(error?.description.contains("/nonexistent/astra-mcpd.conf") == true)
    }

    @Test("requireDatabaseURL explains how to configure one")
    func requireDatabaseURL() throws {
        #expect(throws: ConfigurationError.self) { try DaemonConfiguration().requireDatabaseURL() }
        var configuration = DaemonConfiguration()
        configuration.databaseURL = "postgres://x@y/z"
        #expect(try configuration.requireDatabaseURL() == "postgres://x@y/z")
    }

    /// Writes `text` to a temporary file for the duration of `body`.
    private func withConfigFile(_ text: String, _ body: (String) throws -> Void) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("astra-mcpd-\(UUID().uuidString).conf").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        try body(path)
    }

    @Test("the database URL comes from database_url_file, or from systemd's credential when none is given; a missing file is a clear error")
    func databaseURLFromFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("astra-cred-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "postgres://astra:s3cret@db/astra\n".write(toFile: directory + "/database-url", atomically: true, encoding: .utf8)
        let none = directory + "/absent.conf"

        let fromCredential = try DaemonConfiguration.load(path: nil, environment: ["CREDENTIALS_DIRECTORY": directory])
        #expect(fromCredential.databaseURL == "postgres://astra:s3cret@db/astra")
        let fromFile = try DaemonConfiguration.load(path: nil, environment: ["ASTRA_MCPD_DATABASE_URL_FILE": directory + "/database-url"])
        #expect(fromFile.databaseURL == "postgres://astra:s3cret@db/astra")
        let explicit = try DaemonConfiguration.load(
            path: nil, environment: ["CREDENTIALS_DIRECTORY": directory, "ASTRA_MCPD_DATABASE_URL": "postgres://other@db/x"])
        #expect(explicit.databaseURL == "postgres://other@db/x", "a URL given otherwise wins over the credential")
        let error = #expect(throws: ConfigurationError.self) {
            try DaemonConfiguration.load(path: nil, environment: ["ASTRA_MCPD_DATABASE_URL_FILE": none])
        }
        #expect(error?.description == "ASTRA_MCPD_DATABASE_URL_FILE: cannot read '\(none)'")
    }

    @Test("a reload applies the live settings that changed and names, without applying, the ones that need a restart")
    func reloadPlan() throws {
        let running = try applied("log_level = info\nmax_concurrency = 4\nnetwork_allow = 10.0.0.0/8\ndatabase_pool_size = 8\n")
        let loaded = try applied("log_level = debug\nmax_concurrency = 16\nnetwork_allow = 10.1.0.0/16\ndatabase_pool_size = 2\nlease_seconds = 90\n")
        let plan = ReloadPlan(running: running, loaded: loaded)
        #expect(plan.changed == ["log_level", "max_concurrency", "network_allow"])
        #expect(plan.needRestart == ["database_pool_size", "lease_seconds"])
        #expect(plan.applied.logLevel == .debug)
        #expect(plan.applied.maxConcurrency == 16)
        #expect(plan.applied.networkPolicy.allowed == loaded.networkPolicy.allowed)
        #expect(plan.applied.databasePoolSize == 8, "restart-only settings stay as started")
        #expect(plan.applied.leaseDuration == running.leaseDuration)
        #expect(ReloadPlan(running: running, loaded: running).changed.isEmpty)
    }

    @Test("every key of the file is either live or restart-only, so a reload can say which")
    func everyKeyClassified() {
        let classified = Set(DaemonConfiguration.settings.map(\.key))
        // Two keys set another's value: database_url_file is database_url, stdio_sandbox_hide part of stdio_sandbox.
        let aliases: Set = ["database_url_file", "stdio_sandbox_hide"]
        let unclassified = Set(DaemonConfiguration.keys.keys).subtracting(classified).subtracting(aliases)
        #expect(unclassified.isEmpty, "not classified: \(unclassified.sorted())")
        #expect(classified.subtracting(DaemonConfiguration.keys.keys).isEmpty)
    }

    @Test("the shipped configuration file shows every key, and its list of restart-only keys is the reload's")
    func shippedFileAgrees() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("etc/astra-mcpd/astra-mcpd.conf"), encoding: .utf8)
        for key in DaemonConfiguration.keys.keys {
            #expect(text.contains("# \(key) ="), "etc/astra-mcpd/astra-mcpd.conf does not show \(key)")
        }
        let header = try #require(text.components(separatedBy: "keeps them as they were):\n").last?.components(separatedBy: "\n\n").first)
        let listed = header.replacingOccurrences(of: "#", with: "").split(whereSeparator: { $0 == "," || $0.isWhitespace }).map(String.init)
        #expect(listed == DaemonConfiguration.settings.filter { !$0.live }.map(\.key))
    }
}
