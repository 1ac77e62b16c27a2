import Testing

@testable import AstraMCP

@Suite("DatabaseURL")
struct DatabaseURLTests {
    @Test("a TCP URL: host, port, user, password, database, sslmode")
    func tcp() throws {
        let url = try DatabaseURL("postgres://astra:s3cret@db.example:6543/queue?sslmode=require")
        guard case .tcp(let host, let port) = url.address else {
            Issue.record("expected a TCP address, got \(url.address)")
            return
        }
        #expect(host == "db.example")
        #expect(port == 6543)
        #expect(url.username == "astra")
        #expect(url.password == "s3cret")
        #expect(url.database == "queue")
        #expect(url.tls == .require)
    }

    @Test("defaults: localhost, 5432, user postgres, database named after the user, sslmode prefer")
    func defaults() throws {
        let url = try DatabaseURL("postgresql://")
        guard case .tcp(let host, let port) = url.address else {
            Issue.record("expected a TCP address")
            return
        }
        #expect(host == "localhost")
        #expect(port == 5432)
        #expect(url.username == "postgres")
        #expect(url.database == "postgres")
        #expect(url.password == nil)
        #expect(url.tls == .prefer)
    }

    @Test("?host=/dir selects the Unix socket in that directory, with the port in its name")
    func socket() throws {
        let url = try DatabaseURL("postgres:///astra?host=/var/run/postgresql&user=daemon&port=5433")
        guard case .socket(let path) = url.address else {
            Issue.record("expected a socket address, got \(url.address)")
            return
        }
        #expect(path == "/var/run/postgresql/.s.PGSQL.5433")
        #expect(url.username == "daemon")
        #expect(url.database == "astra")
    }

    @Test("a percent-encoded password is decoded")
    func percentEncodedPassword() throws {
        let url = try DatabaseURL("postgres://u:p%40ss%2Fw@h/d")
        #expect(url.password == "p@ss/w")
    }

    @Test("a scheme other than postgres is refused", arguments: ["mysql://u@h/d", "http://h/d", "not a url", ""])
    func badScheme(_ string: String) {
        let error = #expect(throws: ConfigurationError.self) { try DatabaseURL(string) }
        #expect(error?.description.contains("postgres://") == true)
    }

    @Test("an unknown sslmode is refused")
    func badSSLMode() {
        let error = #expect(throws: ConfigurationError.self) { try DatabaseURL("postgres://u@h/d?sslmode=sometimes") }
        #expect(error?.description.contains("sometimes") == true)
    }

    @Test("the redacted form hides the password, in the user part and in the query")
    func redacted() throws {
        let url = try DatabaseURL("postgres://astra:s3cret@db:5432/queue")
        #expect(!url.redacted.contains("s3cret"))
        #expect(url.redacted.contains("astra"))
        #expect(url.redacted.contains("db:5432/queue"))

        let query = try DatabaseURL("postgres://db/queue?user=astra&password=hunter2")
        #expect(!query.redacted.contains("hunter2"))
        #expect(query.password == "hunter2")
    }
}
