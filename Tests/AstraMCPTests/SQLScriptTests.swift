import Testing

@testable import AstraMCP

@Suite("SQLScript.statements")
struct SQLScriptTests {
    @Test("splits at top-level semicolons and drops empty statements")
    func simpleSplit() {
        #expect(SQLScript.statements("SELECT 1; SELECT 2;\n;\n  SELECT 3") == ["SELECT 1", "SELECT 2", "SELECT 3"])
    }

    @Test("a dollar-quoted function body keeps its semicolons")
    func dollarQuotedBody() {
        let script = """
            CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO t VALUES (1);
                RETURN NULL;
            END;
            $$;
            CREATE FUNCTION g() RETURNS int LANGUAGE sql AS $body$ SELECT 1; $body$;
            SELECT 'after'
            """
        let statements = SQLScript.statements(script)
        #expect(statements.count == 3)
        #expect(statements[0].hasPrefix("CREATE FUNCTION f()"))
        #expect(statements[0].hasSuffix("END;\n$$"))
        #expect(statements[1] == "CREATE FUNCTION g() RETURNS int LANGUAGE sql AS $body$ SELECT 1; $body$")
        #expect(statements[2] == "SELECT 'after'")
    }

    @Test("a different tag inside a dollar quote does not end it")
    func nestedDollarTags() {
        let statements = SQLScript.statements("DO $outer$ BEGIN EXECUTE $$SELECT 1;$$; END $outer$; SELECT 2")
        #expect(statements == ["DO $outer$ BEGIN EXECUTE $$SELECT 1;$$; END $outer$", "SELECT 2"])
    }

    @Test("positional parameters like $1 are not dollar quotes")
    func positionalParameters() {
        #expect(SQLScript.statements("PREPARE p AS SELECT $1; SELECT 2") == ["PREPARE p AS SELECT $1", "SELECT 2"])
    }

    @Test("semicolons inside comments do not split; comment-only chunks are dropped")
    func comments() {
        let script = """
            -- header; with a semicolon
            SELECT 1; -- trailing; comment
            /* block; comment
               over lines; */ SELECT 2;
            -- only a comment at the end;
            """
        let statements = SQLScript.statements(script)
        #expect(statements.count == 2)
        #expect(statements[0] == "-- header; with a semicolon\nSELECT 1")
        #expect(statements[1].hasSuffix("SELECT 2"))
        #expect(statements[1].contains("/* block; comment"))
    }

    @Test("semicolons inside single- and double-quoted text do not split, doubled quotes included")
    func quotes() {
        let statements = SQLScript.statements(#"INSERT INTO "a;b" VALUES ('x;y', 'it''s; fine'); SELECT 1"#)
        #expect(statements == [#"INSERT INTO "a;b" VALUES ('x;y', 'it''s; fine')"#, "SELECT 1"])
    }
}
