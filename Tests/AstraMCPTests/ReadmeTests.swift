import Foundation
import Testing

/// The README's operating walk-through names, for each step, the tests that check it: this
/// keeps those names pointing at tests that exist, and every step tested.
@Suite("README walk-through")
struct ReadmeTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The walk-through's numbered steps: title and text.
    static func steps() throws -> [(title: String, text: String)] {
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let start = try #require(readme.range(of: "### Walk-through\n"))
        let rest = readme[start.upperBound...]
        let section = rest[..<(rest.range(of: "\n### ")?.lowerBound ?? rest.endIndex)]
        var steps: [(title: String, text: String)] = []
        for line in section.split(separator: "\n", omittingEmptySubsequences: false) {
            if let match = line.firstMatch(of: /^\d+\. \*\*([^*]+)\*\*/) {
                steps.append((String(match.1).trimmingCharacters(in: CharacterSet(charactersIn: ".")), String(line)))
            } else if !steps.isEmpty {
                steps[steps.count - 1].text += "\n" + line
            }
        }
        return steps
    }

    /// Every Swift file under Tests/, by path.
    static func testSources() throws -> [String: String] {
        let tests = root.appendingPathComponent("Tests")
        var sources: [String: String] = [:]
        let files = FileManager.default.enumerator(at: tests, includingPropertiesForKeys: nil)
        while let file = files?.nextObject() as? URL {
            if file.pathExtension == "swift" { sources[file.path] = try String(contentsOf: file, encoding: .utf8) }
        }
        return sources
    }

    @Test("it covers install, database, start, reload, logs, health, metrics, checking one server, key rotation, upgrade, retention and analytics")
    func coversTheOperatorsDay() throws {
        let titles = try Self.steps().map { $0.title.lowercased() }
        for topic in ["install", "database", "start", "reload", "logs", "health", "metrics", "checking one server", "key rotation", "upgrade", "retention", "analytics"] {
            #expect(titles.contains { $0.contains(topic) }, "no step about \(topic): \(titles)")
        }
    }

    @Test("each step names tests, and each named test exists (`Type.function`, the function in a file declaring the type)")
    func everyStepTested() throws {
        let steps = try Self.steps()
        #expect(steps.count >= 10)
        let sources = try Self.testSources()
        for step in steps {
            let testedBy = try #require(step.text.range(of: "Tested by "), "step '\(step.title)' names no test")
            let names = step.text[testedBy.upperBound...].matches(of: /`(\w+)\.(\w+)`/).map { (String($0.1), String($0.2)) }
            #expect(!names.isEmpty, "step '\(step.title)' names no test")
            for (type, function) in names {
                let found = sources.values.contains { source in
                    (source.contains("struct \(type) ") || source.contains("extension \(type) ")) && source.contains("func \(function)(")
                }
                #expect(found, "step '\(step.title)': no test \(type).\(function)")
            }
        }
    }
}
