import Foundation
import Testing

@testable import AstraMCP

@Suite("ExecutionRunner.validate")
struct ExecutionValidationTests {
    private func execution(
        arguments: String = #"{"a":1}"#,
        enabled: Bool = true,
        removed: Bool = false,
        serverActive: Bool = true
    ) -> ClaimedExecution {
        ClaimedExecution(
            id: UUID(), argumentsJSON: arguments, toolName: "add", toolEnabled: enabled, toolRemoved: removed,
            timeoutSeconds: 30, maxDurationSeconds: nil, cancelRequested: false, taskID: nil, taskSupport: .forbidden,
            server: ServerDescriptor(id: UUID(), name: "calc", serverType: "stdio", isActive: serverActive, configJSON: "{}"),
            attempt: 1, leaseToken: UUID(), maxAttempts: nil, idempotent: false, enqueuedAt: Date())
    }

    @Test("a valid execution passes")
    func valid() {
        #expect(ExecutionRunner.validate(execution()) == nil)
        #expect(ExecutionRunner.validate(execution(arguments: "  \n{}")) == nil)
    }

    @Test("an inactive server")
    func inactiveServer() {
        #expect(ExecutionRunner.validate(execution(serverActive: false)) == "server 'calc' is inactive")
    }

    @Test("a disabled tool")
    func disabledTool() {
        #expect(ExecutionRunner.validate(execution(enabled: false)) == "tool 'add' is disabled")
    }

    @Test("a removed tool is reported as removed, not as disabled")
    func removedTool() {
        #expect(
            ExecutionRunner.validate(execution(enabled: false, removed: true))
                == "tool 'add' is no longer offered by server 'calc'")
    }

    @Test(
        "arguments that are not an object",
        arguments: [
            ("[1,2]", "an array"), ("\"text\"", "a string"), ("42", "a number"), ("-1.5", "a number"),
            ("true", "a boolean"), ("false", "a boolean"), ("null", "null"), (" [ ]", "an array"),
        ])
    func nonObjectArguments(arguments: String, kind: String) {
        #expect(
            ExecutionRunner.validate(execution(arguments: arguments))
                == "input_parameters must be a JSON object, got \(kind)")
    }
}
