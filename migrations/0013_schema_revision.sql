-- Validation against tools' schemas: each daemon keeps every tool's compiled inputSchema and
-- outputSchema, keyed by `schema_revision`, which the claim returns. It changes whenever either
-- schema does (a tool sync that finds the same schema leaves it), so a cached schema is never
-- stale and an unchanged one is never fetched again.
ALTER TABLE mcp_tools ADD COLUMN schema_revision BIGINT NOT NULL DEFAULT 1;

CREATE FUNCTION astra_mcpd_bump_schema_revision() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.schema_revision := OLD.schema_revision + 1;
    RETURN NEW;
END;
$$;

CREATE TRIGGER mcp_tools_schema_revision
    BEFORE UPDATE OF input_schema, output_schema ON mcp_tools
    FOR EACH ROW
    WHEN (OLD.input_schema IS DISTINCT FROM NEW.input_schema OR OLD.output_schema IS DISTINCT FROM NEW.output_schema)
    EXECUTE FUNCTION astra_mcpd_bump_schema_revision();
