import AstraMCP
import Foundation

extension CallCommand {
    /// Prints what the session brought back; returns the exit code it means.
    static func print(_ output: Output, json: Bool) -> Exit {
        switch output {
        case .tools(let tools):
            if json {
                Swift.print("{\"tools\":[" + tools.map(\.json).joined(separator: ",") + "]}")
            } else if tools.isEmpty {
                printError("note: the server lists no tools")
            } else {
                let width = tools.map(\.name.count).max() ?? 0
                for tool in tools {
                    let line = tool.summary.isEmpty ? tool.name : tool.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + tool.summary
                    Swift.print(line)
                }
            }
            return .ok
        case .outcomes(let outcomes):
            var exit = Exit.ok
            for outcome in outcomes {
                if json {
                    Swift.print(outcome.resultJSON)
                } else if !outcome.isError {
                    for line in outcome.contentLines { Swift.print(line) }
                    if let structured = outcome.structuredContentJSON { Swift.print("structuredContent: \(structured)") }
                }
                if outcome.isError {
                    printError("astra-mcpd: the tool reported an error: \(outcome.errorText ?? "")")
                    exit = .toolError
                } else if let problem = outcome.outputProblem {
                    printError("astra-mcpd: \(problem)")
                    exit = .toolError
                }
            }
            return exit
        }
    }

    /// One line on stderr.
    static func printError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// A progress number as people write it: `3`, not `3.0`.
    static func number(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
