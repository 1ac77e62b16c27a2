import Testing

@testable import AstraMCP

@Suite("roles.sql beside the migrations")
struct RoleScriptTests {
    @Test("the migration loader skips the roles/ directory: only NNNN_name.sql files are migrations")
    func notAMigration() throws {
        let migrations = try Migration.bundled()
        #expect(migrations.map(\.version) == Array(1...migrations.count))
        #expect(!migrations.contains { $0.sql.contains("astra_mcpd.daemon_role") })
    }

    @Test("the roles file is found beside the bundled migrations and splits into its DO blocks")
    func bundled() throws {
        let statements = SQLScript.statements(try RoleScript.bundled().sql)
        #expect(statements.count == 4)
        let code = statements.map { $0.split(separator: "\n").filter { !$0.hasPrefix("--") }.joined(separator: "\n") }
        #expect(code.allSatisfy { $0.hasPrefix("DO $") }, "\(code.map { $0.prefix(40) })")
    }
}
