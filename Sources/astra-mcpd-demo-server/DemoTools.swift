import MCP

/// A tool of the demo server: what `tools/list` shows and what `tools/call` runs.
struct DemoTool: Sendable {
    typealias Body = @Sendable (ToolArguments, ProgressReporter) async throws -> CallTool.Result

    let definition: Tool
    let body: Body

    /// Runs the tool. Bad arguments become a tool error (`isError: true`) the
    /// model can read and correct; cancellation propagates, so the SDK sends
    /// no response, as the spec asks.
    func call(with arguments: [String: Value]?, progress: ProgressReporter) async throws
        -> CallTool.Result
    {
        do {
            let arguments = try ToolArguments(arguments ?? [:], schema: definition.inputSchema)
            return try await body(arguments, progress)
        } catch let error as ToolArgumentError {
            return .toolError(error.message)
        }
    }
}

extension DemoTool {
    /// Every tool, in the order `tools/list` pages through them.
    static let all: [DemoTool] = [.echo, .add, .sleep, .fail]

    static func named(_ name: String) -> DemoTool? {
        all.first { $0.definition.name == name }
    }

    /// The longest `sleep` accepted, so a typo cannot park a request for days.
    static let maximumSleep = 3600.0

    static let echo = DemoTool(
        definition: Tool(
            name: "echo",
            title: "Echo",
            description: "Returns the given text unchanged.",
            inputSchema: .objectSchema(["text": ["type": "string", "description": "The text to return."]]),
            annotations: .pureComputation(title: "Echo"),
            outputSchema: .objectSchema(["text": ["type": "string"]])
        ),
        body: { arguments, _ in
            let text = try arguments.string("text")
            return .success(text, structured: ["text": .string(text)])
        }
    )

    static let add = DemoTool(
        definition: Tool(
            name: "add",
            title: "Add",
            description: "Adds two integers and returns their sum.",
            inputSchema: .objectSchema([
                "a": ["type": "integer", "description": "The first addend."],
                "b": ["type": "integer", "description": "The second addend."],
            ]),
            annotations: .pureComputation(title: "Add"),
            outputSchema: .objectSchema(["sum": ["type": "integer"]])
        ),
        body: { arguments, _ in
            let (a, b) = try (arguments.integer("a"), arguments.integer("b"))
            let (sum, overflow) = a.addingReportingOverflow(b)
            guard !overflow else {
                throw ToolArgumentError("The sum of 'a' and 'b' does not fit in 64 bits.")
            }
            return .success("\(sum)", structured: ["sum": .int(sum)])
        }
    )

    static let sleep = DemoTool(
        definition: Tool(
            name: "sleep",
            title: "Sleep",
            description: """
                Waits the given number of seconds, then answers. Reports progress about every \
                100 ms when the request carries a progress token; can be cancelled.
                """,
            inputSchema: .objectSchema([
                "seconds": [
                    "type": "number", "minimum": 0, "maximum": .double(maximumSleep),
                    "description": "How long to sleep, in seconds.",
                ]
            ]),
            annotations: .pureComputation(title: "Sleep"),
            outputSchema: .objectSchema(["slept": ["type": "number"]])
        ),
        body: { arguments, progress in
            let seconds = try arguments.number("seconds")
            guard (0...maximumSleep).contains(seconds) else {
                throw ToolArgumentError(
                    "Argument 'seconds' must be between 0 and \(Int(maximumSleep)), got \(seconds).")
            }
            try await sleep(seconds: seconds, progress: progress)
            return .success("slept \(formatted(seconds)) s", structured: ["slept": .double(seconds)])
        }
    )

    static let fail = DemoTool(
        definition: Tool(
            name: "fail",
            title: "Fail",
            description: "Always fails, with the given message as the tool error.",
            inputSchema: .objectSchema(["message": ["type": "string", "description": "The error message."]]),
            annotations: .pureComputation(title: "Fail")
        ),
        body: { arguments, _ in
            .toolError(try arguments.string("message"))
        }
    )

    /// Sleeps in ticks of 100 ms (on absolute deadlines, so they do not drift),
    /// reporting progress in seconds after each tick. Throws `CancellationError`
    /// as soon as the request is cancelled.
    private static func sleep(seconds: Double, progress: ProgressReporter) async throws {
        let tick = Duration.milliseconds(100)
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + .seconds(seconds)
        var ticks = 0
        var done = seconds == 0
        while !done {
            ticks += 1
            let wakeUp = min(start + tick * ticks, deadline)
            try await Task.sleep(until: wakeUp, clock: clock)
            done = wakeUp == deadline
            await progress.report(progress: done ? seconds : Double(ticks) / 10, total: seconds)
        }
    }

    /// `1` rather than `1.0`, but `0.25` as is.
    private static func formatted(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }
}

extension CallTool.Result {
    /// A successful result: `text` for the model, `structured` for programs.
    static func success(_ text: String, structured: [String: Value]) -> Self {
        .init(
            content: [.text(text: text, annotations: nil, _meta: nil)],
            structuredContent: .object(structured),
            isError: false
        )
    }

    /// A tool error: the call reached the tool, which reports `message`.
    static func toolError(_ message: String) -> Self {
        .init(content: [.text(text: message, annotations: nil, _meta: nil)], isError: true)
    }
}

extension Tool.Annotations {
    /// The hints for a tool that only computes: it changes nothing, gives the same
    /// answer to the same arguments, and reaches nothing outside the server.
    static func pureComputation(title: String) -> Self {
        .init(title: title, readOnlyHint: true, idempotentHint: true, openWorldHint: false)
    }
}

extension Value {
    /// The JSON Schema of an object with exactly these properties, all required.
    static func objectSchema(_ properties: [String: Value]) -> Value {
        [
            "type": "object",
            "properties": .object(properties),
            "required": .array(properties.keys.sorted().map(Value.string)),
            "additionalProperties": false,
        ]
    }
}
