import Foundation
import PostgresNIO

/// Upserts a server's whole tool list in one statement: new tools are inserted, known ones get
/// the server's current description and schemas (operator settings — `is_enabled`,
/// `requires_confirmation`, `timeout_seconds` — are left alone), and tools the server no
/// longer offers are disabled, never deleted. `$2` is the JSON array of tools as the server
/// sent them, so schemas are stored verbatim.
struct SyncToolsStatement: PostgresPreparedStatement {
    static let sql = """
        WITH offered AS (
            SELECT DISTINCT ON (tool->>'name') tool->>'name' AS name, tool
            FROM jsonb_array_elements($2::jsonb) AS tool
            WHERE jsonb_typeof(tool->'name') = 'string'
        ), upserted AS (
            INSERT INTO mcp_tools AS t (server_id, tool_name, title, description, input_schema, annotations, output_schema, execution, synced_at)
            SELECT $1, name, tool->>'title', tool->>'description',
                   coalesce(tool->'inputSchema', '{"type":"object"}'::jsonb), tool->'annotations', tool->'outputSchema', tool->'execution', now()
            FROM offered
            ON CONFLICT (server_id, tool_name) DO UPDATE
            SET title = EXCLUDED.title, description = EXCLUDED.description, input_schema = EXCLUDED.input_schema,
                annotations = EXCLUDED.annotations, output_schema = EXCLUDED.output_schema, execution = EXCLUDED.execution, synced_at = now(),
                is_enabled = CASE WHEN t.removed_at IS NULL THEN t.is_enabled
                                  ELSE coalesce(t.enabled_before_removal, t.is_enabled) END,
                removed_at = NULL, enabled_before_removal = NULL
            RETURNING t.id
        ), removed AS (
            UPDATE mcp_tools t
            SET enabled_before_removal = t.is_enabled, is_enabled = false, removed_at = now(), synced_at = now()
            WHERE t.server_id = $1 AND t.removed_at IS NULL AND t.tool_name NOT IN (SELECT name FROM offered)
            RETURNING t.id
        )
        SELECT (SELECT count(*) FROM upserted)::int, (SELECT count(*) FROM removed)::int
        """
    typealias Row = (Int32, Int32)

    var serverID: UUID
    var toolsJSON: String

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(serverID)
        bindings.append(toolsJSON)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> (Int32, Int32) {
        try row.decode((Int32, Int32).self)
    }
}

/// Records the outcome of a connection attempt on the server's row.
struct RecordConnectionStatement: PostgresPreparedStatement {
    static let sql = """
        UPDATE mcp_servers
        SET connection_status = $2,
            last_connected_at = CASE WHEN $2 = 'connected' THEN now() ELSE last_connected_at END,
            last_error = $3,
            last_synced_at = CASE WHEN $2 = 'connected' THEN now() ELSE last_synced_at END
        WHERE id = $1
        """
    typealias Row = ()

    var serverID: UUID
    var status: String
    var lastError: String?

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 3)
        bindings.append(serverID)
        bindings.append(status)
        bindings.append(lastError?.sanitizedForDatabase)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws {}
}

/// Active servers, optionally only the one named (by name or id).
struct ActiveServersStatement: PostgresPreparedStatement {
    static let sql = """
        SELECT id, name, server_type, coalesce(is_active, true), config::text, revision FROM mcp_servers
        WHERE is_active IS NOT FALSE AND ($1::text IS NULL OR name = $1 OR id::text = $1)
        ORDER BY name
        """
    typealias Row = ServerDescriptor

    var nameOrID: String?

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(nameOrID)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> ServerDescriptor {
        try ServerDescriptor(row)
    }
}
