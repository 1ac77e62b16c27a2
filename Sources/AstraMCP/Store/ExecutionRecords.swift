import Foundation
import Logging

/// The server an execution runs on, as its row says now.
public struct ServerDescriptor: Sendable, Equatable {
    public var id: UUID
    public var name: String
    /// `stdio`, `sse` or `http`.
    public var serverType: String
    public var isActive: Bool
    /// `mcp_servers.config` as JSON text.
    public var configJSON: String
    /// `mcp_servers.revision`: higher for a row read after a change of its type, config, name or
    /// `is_active`, so a stale copy can be told from the current one. 0 for a descriptor not
    /// read from the database, which counts as current.
    public var revision: Int64

    public init(id: UUID, name: String, serverType: String, isActive: Bool, configJSON: String, revision: Int64 = 0) {
        self.id = id
        self.name = name
        self.serverType = serverType
        self.isActive = isActive
        self.configJSON = configJSON
        self.revision = revision
    }
}

/// An execution the worker has leased and must run.
public struct ClaimedExecution: Sendable {
    public var id: UUID
    /// `input_parameters` as JSON text (any JSON value; only an object is valid).
    public var argumentsJSON: String
    public var toolName: String
    /// Enabled by the operator and still offered by the server.
    public var toolEnabled: Bool
    /// The server no longer offers the tool.
    public var toolRemoved: Bool
    /// How long the call may go without a sign of life (a reply or a progress report).
    public var timeoutSeconds: Int
    /// The tool's hard cap on a call (`mcp_tools.max_duration_seconds`), if set.
    public var maxDurationSeconds: Int?
    /// The backend asked for a cancel before this claim (the call is then never sent).
    public var cancelRequested: Bool
    /// The server's task for this execution, when an earlier attempt created one: it is resumed
    /// (polled), never called again.
    public var taskID: String?
    /// The tool's `execution.taskSupport`.
    public var taskSupport: TaskSupport
    public var server: ServerDescriptor
    /// This attempt's number (1 for the first).
    public var attempt: Int
    /// This claim's lease token: every write of its outcome is fenced by it.
    public var leaseToken: UUID
    /// The tool's own attempt limit (`mcp_tools.max_attempts`), if set.
    public var maxAttempts: Int?
    /// Whether a request that reached the server may be sent again: the operator's
    /// `is_idempotent`, else the tool's `idempotentHint` or `readOnlyHint` annotation.
    public var idempotent: Bool
    /// When the execution was enqueued.
    public var enqueuedAt: Date
    /// The tool's id, and the revision of its schemas (`mcp_tools.schema_revision`): what its
    /// compiled schemas are cached by.
    public var toolID = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
    public var schemaRevision: Int64 = 0
    /// The team that enqueued it (`team_id`), for the logs.
    public var teamID: UUID?

    /// What every log record about this execution carries (the journal's `EXECUTION_ID`,
    /// `SERVER_ID`, `SERVER_NAME`, `TOOL`, `TEAM_ID`, `ATTEMPT`).
    var logMetadata: Logger.Metadata {
        var metadata = server.logMetadata
        metadata["execution"] = "\(id)"
        metadata["tool"] = "\(toolName)"
        metadata["attempt"] = "\(attempt)"
        if let teamID { metadata["team"] = "\(teamID)" }
        return metadata
    }
}

extension ServerDescriptor {
    /// What every log record about this server carries (the journal's `SERVER_NAME`, `SERVER_ID`).
    var logMetadata: Logger.Metadata {
        ["server": "\(name)", "server_id": "\(id)"]
    }
}

/// Whether a tool may, must or must not be called as a task (`execution.taskSupport`).
public enum TaskSupport: String, Sendable {
    case forbidden, optional, required

    /// Absent or unknown is `forbidden`, as the spec says.
    init(_ text: String?) {
        self = text.flatMap(TaskSupport.init(rawValue:)) ?? .forbidden
    }
}

/// The terminal statuses an execution can end in.
public enum ExecutionStatus: String, Sendable, CaseIterable {
    case success, error, timeout
    /// The backend asked for a cancel (`cancel_requested_at`) before the call ended.
    case cancelled
}

/// How one execution ended, as written back to `mcp_tool_executions`.
public struct ExecutionOutcome: Sendable {
    public var id: UUID
    /// The claim this outcome belongs to: it is written only while the queue row still holds
    /// that lease token.
    public var leaseToken: UUID
    public var status: ExecutionStatus
    /// The whole `CallToolResult` as JSON text, when the server answered.
    public var outputJSON: String?
    public var errorMessage: String?
    public var completedAt: Date
    public var durationMilliseconds: Int

    public init(
        id: UUID, leaseToken: UUID, status: ExecutionStatus, outputJSON: String?, errorMessage: String?, completedAt: Date,
        durationMilliseconds: Int
    ) {
        self.id = id
        self.leaseToken = leaseToken
        self.status = status
        self.outputJSON = outputJSON
        self.errorMessage = errorMessage
        self.completedAt = completedAt
        self.durationMilliseconds = durationMilliseconds
    }
}
