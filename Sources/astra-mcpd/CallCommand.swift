import ArgumentParser
import AstraMCP
import Foundation
import Logging
import Synchronization
import UnixSignals

/// `astra-mcpd call`: one call (or the tool list) of one server, by hand, through the daemon's
/// own session layer (``OneShotClient``); also the client the MCP conformance runner drives.
struct CallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "call",
        abstract: "Call one tool of one server as the daemon would, and print the result; without TOOL, list the tools.",
        usage: """
            astra-mcpd call --server NAME|ID [TOOL [JSON]]
            astra-mcpd call --url URL [TOOL [JSON]]
            astra-mcpd call [TOOL [JSON]] --command CMD [ARG...]
            astra-mcpd call [TOOL [JSON]] URL
            """,
        discussion: """
            The server is started as the daemon starts one: the same transports, network policy (network_allow, \
            network_deny), stdio_commands and sandbox, credentials and OAuth. A program given with --command is \
            allowed whatever stdio_commands says. The arguments are checked against the tool's inputSchema, and a \
            result's structuredContent against its outputSchema, as listed by the server. Progress goes to stderr; \
            nothing is logged unless --log-level says so (info shows the server's stderr).

            With MCP_CONFORMANCE_SCENARIO set (the official conformance runner sets it, and passes the server's URL \
            last), the scenario's requests are made instead of TOOL's.

            Exit codes: 0 ok; 1 the tool reported an error (isError), or its result breaks its outputSchema; \
            2 bad usage or configuration (arguments that are not a JSON object or break the inputSchema, a server \
            the configuration refuses); 3 the server could not be started, reached or initialized; 4 the server \
            failed the request (a JSON-RPC error, a timeout); 5 the database could not be read (--server); \
            130 interrupted.
            """
    )

    @OptionGroup var options: CommonOptions

    @Option(help: "A server of mcp_servers, by name or id (read from the configured database).")
    var server: String?

    @Option(help: "A Streamable HTTP server's URL; one that refuses the POST with 400, 404 or 405 is tried as legacy HTTP+SSE.")
    var url: String?

    @Option(parsing: .remaining, help: ArgumentHelp("A stdio server: its program and arguments, to the end of the line.", valueName: "cmd"))
    var command: [String] = []

    @Flag(help: "Print the raw CallToolResult (or the tools/list tools) as JSON.")
    var json = false

    @Option(help: "Seconds that starting the server, and each request, may go without a sign of life (progress counts).")
    var timeout: Double = 30

    @Argument(help: ArgumentHelp("TOOL, then its arguments as a JSON object (default {}); a last argument that is an http(s) URL names the server.", valueName: "tool-and-json"))
    var arguments: [String] = []

    /// Exit codes, as the discussion lists them.
    enum Exit: Int32 {
        case ok = 0, toolError = 1, usage = 2, unreachable = 3, requestFailed = 4, database = 5, interrupted = 130
    }

    func run() async throws {
        var configuration = try options.load()
        // Quiet unless asked: what the daemon would log (the server's stderr among it) is for --log-level.
        if options.logLevel == nil { configuration.logLevel = .critical }
        let logger = options.logger(configuration)
        let request = parseRequest()
        let (json, name, settings) = (self.json, server, configuration)
        var client = OneShotClient(configuration: configuration, logger: logger)
        client.timeout = .milliseconds(Int64(timeout * 1000))
        // At most one line a second (and the last), however often the server reports.
        let lastProgressLine = Mutex<ContinuousClock.Instant?>(nil)
        client.onProgress = { progress, total, message in
            let now = ContinuousClock.now
            let due = lastProgressLine.withLock { last in
                guard progress == total || last.map({ now - $0 >= .seconds(1) }) ?? true else { return false }
                last = now
                return true
            }
            guard due else { return }
            Self.printError("progress: \(Self.number(progress))\(total.map { "/\(Self.number($0))" } ?? "")\(message.map { " \($0)" } ?? "")")
        }
        client.onNotice = { Self.printError("note: \($0)") }
        let oneShot = client
        let exit: Exit
        do {
            let output: Output
            if let name {
                output = try await withDatabase(settings, logger: logger) { database in
                    try await AstraDaemon(configuration: settings, logger: logger).preflight()
                    let server = try await OneShotServer.registered(
                        name, database: database, credentialKeysDirectory: settings.credentialKeysDirectory, logger: logger)
                    return try await Self.perform(request, on: server, client: oneShot)
                }
            } else {
                output = try await Self.perform(request, on: request.server!, client: oneShot)
            }
            exit = Self.print(output, json: json)
        } catch let error as OneShotError {
            exit = Self.exit(for: error)
            if exit != .interrupted { Self.printError("astra-mcpd: \(error.message)") }
        } catch let error as ConfigurationError {
            Self.printError("astra-mcpd: \(error.description)")
            exit = .usage
        } catch {
            // Only the database steps throw anything else.
            Self.printError("astra-mcpd: \(error)")
            exit = .database
        }
        if exit != .ok { throw ExitCode(exit.rawValue) }
    }

    /// What was asked: the server (unless it is a row of the database), and the conformance
    /// scenario or the tool and its arguments. Exits 2 with one line when the command line is wrong.
    func parseRequest() -> Request {
        var positionals = arguments
        var url = self.url
        // The conformance runner appends the server's URL as the last argument.
        if server == nil, url == nil, command.isEmpty, let last = positionals.last, last.hasPrefix("http://") || last.hasPrefix("https://") {
            url = positionals.removeLast()
        }
        let named = [server != nil, url != nil, !command.isEmpty].filter { $0 }.count
        guard named == 1 else {
            CommonOptions.fail("name the server with one of --server, --url or --command (or a URL as the last argument)", code: Exit.usage.rawValue)
        }
        guard positionals.count <= 2 else { CommonOptions.fail("too many arguments: expected TOOL and at most one JSON object", code: Exit.usage.rawValue) }
        guard timeout > 0, timeout <= 86_400 else { CommonOptions.fail("--timeout must be more than 0 and at most 86400 seconds", code: Exit.usage.rawValue) }
        do throws(OneShotError) {
            let scenario = try ConformanceScenario(environment: ProcessInfo.processInfo.environment)
            if scenario != nil, !positionals.isEmpty {
                throw OneShotError(.usage, "\(ConformanceScenario.scenarioVariable) is set: the scenario says what to call, not TOOL")
            }
            var request = Request(scenario: scenario, tool: positionals.first, argumentsJSON: try Self.argumentsObject(positionals.dropFirst().first))
            if let url, let scenario {
                request.server = try scenario.server(url: url)
            } else if let url {
                request.server = try .url(url)
            } else if !command.isEmpty {
                request.server = try .command(command)
            }
            return request
        } catch {
            CommonOptions.fail(error.message, code: Exit.usage.rawValue)
        }
    }

    /// `text` if it is a JSON object; `{}` when there is none.
    static func argumentsObject(_ text: String?) throws(OneShotError) -> String {
        guard let text else { return "{}" }
        let value: JSONValue
        do {
            value = try JSONValue.parse(text)
        } catch {
            throw OneShotError(.usage, "the arguments are not JSON: \(error.description)")
        }
        guard case .object = value else {
            let article = ["array", "integer"].contains(value.typeName) ? "an" : "a"
            throw OneShotError(.usage, "the arguments must be a JSON object, not \(article) \(value.typeName)")
        }
        return text
    }

    /// Runs the request on a session of `server`.
    static func perform(_ request: Request, on server: OneShotServer, client: OneShotClient) async throws -> Output {
        if !server.descriptor.isActive {
            printError("note: server '\(server.descriptor.name)' is inactive, so the daemon does not call it; calling it anyway")
        }
        return try await client.withSession(server, interrupted: { for await _ in await UnixSignalsSequence(trapping: .sigint, .sigterm) { return } }) { session in
            if let scenario = request.scenario { return .outcomes(try await scenario.run(on: session)) }
            let tools = try await session.listTools()
            guard let tool = request.tool else { return .tools(tools) }
            let listed = tools.first { $0.name == tool }
            if listed == nil { printError("note: server '\(session.server.name)' does not list tool '\(tool)'; calling it unchecked") }
            return .outcomes([try await session.call(tool, argumentsJSON: request.argumentsJSON, tool: listed)])
        }
    }

    static func exit(for error: OneShotError) -> Exit {
        switch error.code {
        case .usage, .configuration: .usage
        case .unreachable: .unreachable
        case .requestFailed: .requestFailed
        case .database: .database
        case .interrupted: .interrupted
        default: .requestFailed
        }
    }
}

extension CallCommand {
    /// What the command line asks for.
    struct Request: Sendable {
        /// nil: `--server`, read from the database once it is open.
        var server: OneShotServer?
        var scenario: ConformanceScenario?
        var tool: String?
        var argumentsJSON: String

        init(scenario: ConformanceScenario?, tool: String?, argumentsJSON: String) {
            self.scenario = scenario
            self.tool = tool
            self.argumentsJSON = argumentsJSON
        }
    }

    /// What a session brought back, printed once it has closed.
    enum Output: Sendable {
        case tools([ListedTool])
        case outcomes([CallOutcome])
    }
}
