/// What schema validation costs on the hot path: a typical MCP tool schema (an object with
/// typed properties, `required`, an `enum` and a `pattern`) and arguments that satisfy it.
///
/// Run from `astra-mcpd bench` (a release build); the numbers only mean something there.
public enum JSONSchemaBenchmark {
    /// A tool's `inputSchema` of the usual shape.
    public static let toolSchema = #"""
        {"type":"object","properties":{
          "query":{"type":"string","minLength":1,"maxLength":200},
          "limit":{"type":"integer","minimum":1,"maximum":100},
          "units":{"type":"string","enum":["metric","imperial"]},
          "city_code":{"type":"string","pattern":"^[A-Z]{3}$"},
          "include_forecast":{"type":"boolean"}},
         "required":["query","city_code"],"additionalProperties":false}
        """#
    /// Arguments valid against ``toolSchema``.
    public static let toolArguments = #"{"query":"weather in Zürich","limit":10,"units":"metric","city_code":"ZRH","include_forecast":true}"#

    /// Microseconds per operation.
    public struct Result: Sendable, CustomStringConvertible {
        /// Parsing the arguments text into a JSONValue.
        public var parse: Double
        /// Validating parsed arguments against the compiled schema.
        public var validate: Double
        /// Validating against `{"type":"object"}` (the fast path).
        public var validateAcceptAll: Double
        /// Compiling the schema (once per tool sync, not per execution).
        public var compile: Double
        public var iterations: Int

        public var description: String {
            func us(_ value: Double) -> String {
                let tenths = Int((value * 10).rounded())
                return "\(tenths / 10).\(tenths % 10) µs"
            }
            return "schema validation (typical tool schema, 5 properties): parse \(us(parse)), validate \(us(validate)), "
                + "parse + validate \(us(parse + validate)); {\"type\":\"object\"} \(us(validateAcceptAll)); compile \(us(compile)) "
                + "(\(iterations) iterations)"
        }
    }

    /// Times each step over `iterations` runs, after a warm-up.
    public static func run(iterations: Int = 100_000) -> Result {
        let schema = try! JSONSchema(compiling: toolSchema)
        let acceptAll = try! JSONSchema(compiling: #"{"type":"object"}"#)
        let arguments = try! JSONValue.parse(toolArguments)
        precondition(schema.validate(arguments).isEmpty, "the benchmark's arguments must be valid")
        let clock = ContinuousClock()
        var sink = 0

        func perIteration(_ count: Int, _ body: () -> Void) -> Double {
            for _ in 0..<min(count, 1000) { body() }
            let elapsed = clock.measure { for _ in 0..<count { body() } }
            let (seconds, attoseconds) = elapsed.components
            return (Double(seconds) * 1e6 + Double(attoseconds) / 1e12) / Double(count)
        }

        let parse = perIteration(iterations) {
            if case .object(let members)? = try? JSONValue.parse(toolArguments) { sink &+= members.count }
        }
        let validate = perIteration(iterations) { sink &+= schema.validate(arguments).count }
        let acceptAllCost = perIteration(iterations) { sink &+= acceptAll.validate(arguments).count }
        let compile = perIteration(max(1, iterations / 20)) {
            if (try? JSONSchema(compiling: toolSchema)) != nil { sink &+= 1 }
        }
        precondition(sink != 42, "keeps the work observable")
        return Result(parse: parse, validate: validate, validateAcceptAll: acceptAllCost, compile: compile, iterations: iterations)
    }
}
