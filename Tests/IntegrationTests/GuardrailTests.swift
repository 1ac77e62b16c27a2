import Foundation
import Testing

@testable import AstraMCP

/// What never reaches a server: descriptors, secrets.
@Suite("Guardrails", .timeLimit(.minutes(2)))
struct GuardrailTests {
    @Test("a stdio child inherits no descriptor beyond stdin, stdout and stderr (the daemon holds database sockets and more)")
    func noInheritedDescriptors() async throws {
        try await TestDatabase.with { db in
            try await TestDaemon.with(db) { daemon in
                // The daemon holds PostgreSQL connections and this file while it starts the child.
                let held = FileHandle(forReadingAtPath: TestPaths.fastServer)
                defer { try? held?.close() }
                let server = try await daemon.registerServer("probe", command: "python3", args: ["-u", TestPaths.fastServer, "--probe-parent"])
                try await daemon.sync(server)
                let row = try await daemon.run("open_fds", on: server, arguments: "{}")
                #expect(row.status == "success", "\(row.errorMessage ?? "")")
                #expect(row.outputText == "none", "the child inherited: \(row.outputText ?? "nil")")
            }
        }
    }
}
