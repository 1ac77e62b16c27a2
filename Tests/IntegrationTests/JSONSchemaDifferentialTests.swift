import Foundation
import Testing

@testable import AstraMCP

/// Our JSON Schema validator against the reference implementation: the Python package
/// `jsonschema` (Draft202012Validator with its FormatChecker) on schemas and instances that
/// `Tests/Fixtures/jsonschema_cases.py` generates with hypothesis, derandomized, so the same
/// cases run every time. See that file for what is compared and what is kept out.
@Suite("JSON Schema differential (jsonschema)")
struct JSONSchemaDifferentialTests {
    struct Case {
        var line: Int
        var text: String
        var schema: JSONValue
        var instance: JSONValue
        var valid: Bool
    }

    /// Runs the generator with the venv's Python and parses its lines with our parser.
    static func cases(count: Int) throws -> [Case] {
        let python = TestPaths.repositoryRoot.appendingPathComponent(".venv/bin/python").path
        try TestPaths.requireExecutable(python, hint: "run `bash scripts/setup.sh` to create the venv")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures/jsonschema_cases.py").path, String(count)]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "jsonschema_cases.py exited with \(process.terminationStatus)")
        var cases: [Case] = []
        for (offset, line) in String(decoding: data, as: UTF8.self).split(separator: "\n").enumerated() {
            let text = String(line)
            guard case .object(let members) = try JSONValue.parse(text), let schema = members["schema"], let instance = members["instance"],
                case .bool(let valid)? = members["valid"]
            else { throw CaseError(description: "line \(offset + 1) is not a case: \(text)") }
            cases.append(Case(line: offset + 1, text: text, schema: schema, instance: instance, valid: valid))
        }
        return cases
    }

    struct CaseError: Error, CustomStringConvertible { var description: String }

    @Test("the same verdict as jsonschema on 2000 generated schema/instance pairs")
    func sameVerdictAsReference() throws {
        let cases = try Self.cases(count: 2000)
        #expect(cases.count == 2000)
        var disagreements: [String] = []
        for testCase in cases {
            let schema: JSONSchema
            do {
                schema = try JSONSchema(compiling: testCase.schema)
            } catch {
                disagreements.append("line \(testCase.line): schema does not compile (\(error)): \(testCase.text)")
                continue
            }
            let violations = schema.validate(testCase.instance)
            if violations.isEmpty != testCase.valid {
                disagreements.append(
                    "line \(testCase.line): jsonschema says \(testCase.valid ? "valid" : "invalid"), we say "
                        + (violations.isEmpty ? "valid" : "invalid (\(violations[0]))") + ": \(testCase.text)")
            }
            // The probe-only path must agree with the recording one.
            #expect(schema.isValid(testCase.instance) == violations.isEmpty, "isValid disagrees with validate on line \(testCase.line)")
        }
        let valid = cases.filter(\.valid).count
        print("JSON Schema differential: \(cases.count) cases (\(valid) valid, \(cases.count - valid) invalid), \(disagreements.count) disagreements")
        #expect(disagreements.isEmpty, "\(disagreements.count) disagreements; first: \(disagreements.first ?? "")")
        for disagreement in disagreements.prefix(15) { print(disagreement) }
    }
}
