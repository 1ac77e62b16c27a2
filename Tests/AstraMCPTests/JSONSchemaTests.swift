import Testing

@testable import AstraMCP

@Suite("JSON Schema")
struct JSONSchemaTests {
    /// The violations of `instance` (JSON text) against `schema` (JSON text), as "path: rule".
    private func violations(_ schema: String, _ instance: String, max: Int = 10) throws -> [String] {
        try JSONSchema(compiling: schema).validate(JSONValue.parse(instance), maxViolations: max).map(\.description)
    }

    private func valid(_ schema: String, _ instance: String) throws -> Bool {
        try violations(schema, instance).isEmpty
    }

    private func compileError(_ schema: String) -> JSONSchemaError? {
        do {
            _ = try JSONSchema(compiling: schema)
            return nil
        } catch {
            return error
        }
    }

    /// Frees a deeply nested array one level at a time (releasing it at once would recurse).
    static func dismantle(_ value: inout JSONValue) {
        while case .array(let items) = value, let first = items.first { value = first }
    }

    // MARK: - Keywords

    @Test("type: one name or a list; integer accepts 1.0, number accepts 1")
    func type() throws {
        #expect(try violations(#"{"type":"integer"}"#, "1.0").isEmpty)
        #expect(try violations(#"{"type":"integer"}"#, "1.5") == ["$: type 'integer', got number"])
        #expect(try violations(#"{"type":"number"}"#, "1").isEmpty)
        #expect(try violations(#"{"type":["string","null"]}"#, "null").isEmpty)
        #expect(try violations(#"{"type":["string","null"]}"#, "true") == ["$: type 'null' or 'string', got boolean"])
        #expect(try violations(#"{"type":"object"}"#, "[]") == ["$: type 'object', got array"])
    }

    @Test("enum and const use JSON equality")
    func enumAndConst() throws {
        #expect(try valid(#"{"enum":["c","f",1]}"#, "1.0"))
        #expect(try violations(#"{"enum":["c","f"]}"#, #""k""#) == [#"$: enum ["c","f"]"#])
        #expect(try valid(#"{"const":{"a":1,"b":[true]}}"#, #"{"b":[true],"a":1.0}"#))
        #expect(try violations(#"{"const":{"a":1}}"#, #"{"a":true}"#) == [#"$: const {"a":1}"#])
        #expect(try !valid(#"{"enum":[1]}"#, "true"))
        // Long enums take the hashed path.
        let many = "[" + (0..<20).map { "\"v\($0)\"" }.joined(separator: ",") + ",1]"
        #expect(try valid(#"{"enum":\#(many)}"#, "1.0"))
        #expect(try !valid(#"{"enum":\#(many)}"#, #""v20""#))
    }

    @Test("numeric bounds, exact between integers and doubles")
    func numbers() throws {
        #expect(try violations(#"{"minimum":0}"#, "-1") == ["$: minimum 0"])
        #expect(try valid(#"{"minimum":0}"#, "0"))
        #expect(try violations(#"{"exclusiveMinimum":0}"#, "0") == ["$: exclusiveMinimum 0"])
        #expect(try violations(#"{"maximum":1.5}"#, "2") == ["$: maximum 1.5"])
        #expect(try violations(#"{"exclusiveMaximum":2}"#, "2.0") == ["$: exclusiveMaximum 2"])
        #expect(try !valid(#"{"maximum":9007199254740992}"#, "9007199254740993"))  // beyond a Double's precision
        #expect(try valid(#"{"minimum":1}"#, #""not a number""#))  // bounds apply to numbers only
        // Draft-04 boolean exclusives.
        #expect(try !valid(#"{"minimum":0,"exclusiveMinimum":true}"#, "0"))
        #expect(try valid(#"{"minimum":0,"exclusiveMinimum":false}"#, "0"))
    }

    @Test("multipleOf is decimal-exact: 19.99 is a multiple of 0.01")
    func multipleOf() throws {
        #expect(try valid(#"{"multipleOf":0.01}"#, "19.99"))
        #expect(try valid(#"{"multipleOf":0.1}"#, "0.3"))
        #expect(try violations(#"{"multipleOf":0.25}"#, "0.3") == ["$: multipleOf 0.25"])
        #expect(try valid(#"{"multipleOf":3}"#, "-9"))
        #expect(try valid(#"{"multipleOf":2}"#, "4.0"))
        #expect(try !valid(#"{"multipleOf":2}"#, "4.5"))
        #expect(try valid(#"{"multipleOf":1e-5}"#, "1e300"))
    }

    @Test("minLength and maxLength count code points")
    func lengths() throws {
        #expect(try valid(#"{"maxLength":2}"#, #""😀😀""#))  // 8 UTF-8 bytes, 4 UTF-16 units, 2 code points
        #expect(try violations(#"{"maxLength":1}"#, #""😀😀""#) == ["$: maxLength 1"])
        #expect(try violations(#"{"minLength":3}"#, #""é😀""#) == ["$: minLength 3"])
        #expect(try valid(#"{"minLength":2}"#, #""é😀""#))
    }

    @Test("pattern is an unanchored search; an invalid pattern is a schema error")
    func pattern() throws {
        #expect(try valid(#"{"pattern":"b"}"#, #""abc""#))
        #expect(try violations(#"{"pattern":"^a"}"#, #""ba""#) == ["$: pattern '^a'"])
        #expect(try valid(#"{"pattern":"^.$"}"#, #""😀""#))
        #expect(compileError(#"{"pattern":"(a"}"#) == JSONSchemaError(kind: .invalidPattern("(a"), location: "#/pattern"))
        #expect(compileError(#"{"patternProperties":{"[":{}}}"#)?.location == "#/patternProperties/[")
    }

    @Test("format date-time, email and uri are asserted; others are annotations")
    func formats() throws {
        for good in ["2024-02-29T12:00:00Z", "2024-01-01t00:00:00.5+01:00", "1999-12-31T23:59:59.123456-08:00"] {
            #expect(try valid(#"{"format":"date-time"}"#, "\"\(good)\""), "\(good)")
        }
        for bad in ["2023-02-29T12:00:00Z", "2024-01-01 00:00:00Z", "2024-01-01T00:00:00", "2024-01-01T24:00:00Z", "2024-01-01", "x"] {
            #expect(try violations(#"{"format":"date-time"}"#, "\"\(bad)\"") == ["$: format 'date-time'"], "\(bad)")
        }
        for good in ["user@example.com", "first.last+tag@sub.example.org", "\\\"a b\\\"@example.com", "x@[192.0.2.1]", "x@[IPv6:::1]"] {
            #expect(try valid(#"{"format":"email"}"#, "\"\(good)\""), "\(good)")
        }
        for bad in ["plain", "a@", "@b.com", "a b@c.com", "a..b@c.com", ".a@c.com", "a@-c.com", "a@c..com", "é@c.com", "a@[300.1.1.1]"] {
            #expect(try !valid(#"{"format":"email"}"#, "\"\(bad)\""), "\(bad)")
        }
        for good in ["https://u:p@h:8080/p/a%20th?q=1&r=2#frag", "mailto:x@y", "urn:isbn:0451450523", "http://[::1]/", "a:"] {
            #expect(try valid(#"{"format":"uri"}"#, "\"\(good)\""), "\(good)")
        }
        for bad in ["//no-scheme", "/relative", "http://a b", "http://a/%zz", "http://a#b#c", "http://h:x/", "http://[1::2::3]/", "http://ä/"] {
            #expect(try !valid(#"{"format":"uri"}"#, "\"\(bad)\""), "\(bad)")
        }
        #expect(try valid(#"{"format":"ipv4"}"#, #""not checked""#))
        #expect(try valid(#"{"format":"email"}"#, "42"))  // formats apply to strings only
    }

    @Test("items, prefixItems, draft-07 tuple items, contains, sizes, uniqueItems")
    func arrays() throws {
        #expect(try violations(#"{"items":{"type":"integer"}}"#, #"[1,"a",2,true]"#) == ["$[1]: type 'integer', got string", "$[3]: type 'integer', got boolean"])
        #expect(try violations(#"{"prefixItems":[{"type":"string"}],"items":false}"#, #"["a",1]"#) == ["$[1]: item not allowed: at most 1 items"])
        #expect(try valid(#"{"prefixItems":[{"type":"string"}],"items":{"type":"integer"}}"#, #"["a",1,2]"#))
        #expect(try violations(#"{"items":[{"type":"string"}],"additionalItems":{"type":"integer"}}"#, #"["a","b"]"#) == ["$[1]: type 'integer', got string"])
        #expect(try violations(#"{"minItems":2}"#, "[1]") == ["$: minItems 2"])
        #expect(try violations(#"{"maxItems":1}"#, "[1,2]") == ["$: maxItems 1"])
        #expect(try violations(#"{"uniqueItems":true}"#, #"[1,{"a":1},1.0]"#) == ["$: uniqueItems: items 0 and 2 are equal"])
        #expect(try valid(#"{"uniqueItems":true}"#, "[1,true,\"1\"]"))
        let long = "[" + (0..<40).map(String.init).joined(separator: ",") + ",39.0]"
        #expect(try violations(#"{"uniqueItems":true}"#, long) == ["$: uniqueItems: items 39 and 40 are equal"])
        #expect(try violations(#"{"contains":{"type":"string"}}"#, "[1]") == ["$: contains: no item matches"])
        #expect(try violations(#"{"contains":{"type":"string"},"maxContains":1}"#, #"["a","b"]"#) == ["$: maxContains 1: more items match"])
        #expect(try valid(#"{"contains":{"type":"string"},"minContains":0}"#, "[1]"))
    }

    @Test("properties, required, additionalProperties, patternProperties, propertyNames, dependencies")
    func objects() throws {
        let schema = #"{"type":"object","properties":{"q":{"type":"string"},"n":{"minimum":0}},"required":["q"],"additionalProperties":false}"#
        #expect(try violations(schema, #"{"n":-1,"x":1}"#) == ["$: required property 'q' is missing", "$.n: minimum 0", "$: additional property 'x' is not allowed"])
        #expect(try violations(#"{"additionalProperties":{"type":"integer"}}"#, #"{"a b":"s"}"#) == ["$['a b']: type 'integer', got string"])
        #expect(try valid(#"{"patternProperties":{"^x":{"type":"integer"}},"additionalProperties":false}"#, #"{"x1":1}"#))
        #expect(try violations(#"{"patternProperties":{"^x":{"type":"integer"}},"additionalProperties":false}"#, #"{"x1":"a","y":1}"#)
            == ["$.x1: type 'integer', got string", "$: additional property 'y' is not allowed"])
        #expect(try violations(#"{"propertyNames":{"maxLength":1}}"#, #"{"ab":1}"#) == ["$: property name 'ab' does not match propertyNames"])
        #expect(try violations(#"{"minProperties":1}"#, "{}") == ["$: minProperties 1"])
        #expect(try violations(#"{"maxProperties":0}"#, #"{"a":1}"#) == ["$: maxProperties 0"])
        #expect(try violations(#"{"dependentRequired":{"a":["b"]}}"#, #"{"a":1}"#) == ["$: property 'b' is required when 'a' is present"])
        #expect(try violations(#"{"dependencies":{"a":["b"],"c":{"required":["d"]}}}"#, #"{"a":1,"c":2}"#)
            == ["$: property 'b' is required when 'a' is present", "$: required property 'd' is missing"])
        #expect(try violations(#"{"dependentSchemas":{"a":{"maxProperties":1}}}"#, #"{"a":1,"b":2}"#) == ["$: maxProperties 1"])
    }

    @Test("anyOf, oneOf, allOf, not, if/then/else, boolean schemas")
    func applicators() throws {
        #expect(try violations(#"{"anyOf":[{"type":"string"},{"type":"null"}]}"#, "1") == ["$: anyOf: matches none of the 2 subschemas"])
        #expect(try violations(#"{"oneOf":[{"type":"integer"},{"type":"number"}]}"#, "1") == ["$: oneOf: matches subschemas 0 and 1, exactly one expected"])
        #expect(try valid(#"{"oneOf":[{"type":"integer"},{"type":"string"}]}"#, "1"))
        #expect(try violations(#"{"allOf":[{"minimum":0},{"maximum":5}]}"#, "9") == ["$: maximum 5"])
        #expect(try violations(#"{"not":{"type":"null"}}"#, "null") == ["$: not: must not match the subschema"])
        #expect(try violations(#"{"if":{"type":"string"},"then":{"minLength":2},"else":{"minimum":0}}"#, #""a""#) == ["$: minLength 2"])
        #expect(try violations(#"{"if":{"type":"string"},"then":{"minLength":2},"else":{"minimum":0}}"#, "-1") == ["$: minimum 0"])
        #expect(try valid("true", #"{"anything":[1]}"#))
        #expect(try violations("false", "1") == ["$: false schema: no value is allowed"])
        #expect(try violations(#"{"properties":{"a":false}}"#, #"{"a":1}"#) == ["$.a: false schema: no value is allowed"])
    }

    @Test("unknown keywords are ignored; {} and {\"type\":\"object\"} take the fast path")
    func unknownAndFastPath() throws {
        #expect(try valid(#"{"x-vendor":{"whatever":1},"title":"t","description":"d","examples":[1]}"#, "1"))
        #expect(try valid("{}", #"{"a":1}"#))
        #expect(try violations(#"{"type":"object"}"#, "1") == ["$: type 'object', got integer"])
        #expect(try valid(#"{"type":"object"}"#, "{}"))
    }

    // MARK: - Paths and bounds

    @Test("a violation's path is a JSONPath to the value, with the rule")
    func paths() throws {
        let schema = #"{"properties":{"items":{"items":{"properties":{"name":{"minLength":1}}}}}}"#
        #expect(try violations(schema, #"{"items":[{"name":"a"},{"name":"b"},{"name":""}]}"#) == ["$.items[2].name: minLength 1"])
        let violation = try JSONSchema(compiling: schema).validate(JSONValue.parse(#"{"items":[{"name":""}]}"#))[0]
        #expect(violation == JSONSchemaViolation(path: "$.items[0].name", rule: "minLength 1"))
        #expect(try violations(#"{"additionalProperties":{"type":"string"}}"#, #"{"it's":1}"#) == [#"$['it\'s']: type 'string', got integer"#])
    }

    @Test("violations stop at maxViolations; the first is the first found")
    func bound() throws {
        let instance = "[" + Array(repeating: "\"x\"", count: 50).joined(separator: ",") + "]"
        let all = try violations(#"{"items":{"type":"integer"}}"#, instance)
        #expect(all.count == 10)
        #expect(all.first == "$[0]: type 'integer', got string")
        #expect(try violations(#"{"items":{"type":"integer"}}"#, instance, max: 1) == ["$[0]: type 'integer', got string"])
    }

    // MARK: - References

    @Test("$ref to #/$defs, #/definitions, escaped pointers, and # recursively")
    func references() throws {
        #expect(try violations(##"{"$defs":{"pos":{"minimum":0}},"properties":{"n":{"$ref":"#/$defs/pos"}}}"##, ##"{"n":-1}"##) == ["$.n: minimum 0"])
        #expect(try violations(##"{"definitions":{"s":{"type":"string"}},"items":{"$ref":"#/definitions/s"}}"##, "[1]") == ["$[0]: type 'string', got integer"])
        #expect(try violations(##"{"$defs":{"a/b~c":{"type":"null"}},"$ref":"#/$defs/a~1b~0c"}"##, "1") == ["$: type 'null', got integer"])
        #expect(try violations(##"{"$defs":{"a b":{"type":"null"}},"$ref":"#/$defs/a%20b"}"##, "1") == ["$: type 'null', got integer"])
        // A tree: recursion through # that descends into the instance terminates.
        let tree = ##"{"type":"object","properties":{"value":{"type":"integer"},"children":{"type":"array","items":{"$ref":"#"}}},"required":["value"]}"##
        #expect(try valid(tree, #"{"value":1,"children":[{"value":2,"children":[{"value":3}]}]}"#))
        #expect(try violations(tree, #"{"value":1,"children":[{"value":2,"children":[{}]}]}"#)
            == ["$.children[0].children[0]: required property 'value' is missing"])
        // A ref to the root's own $id is local.
        #expect(try valid(##"{"$id":"https://example.com/s.json","$defs":{"n":{"type":"null"}},"$ref":"https://example.com/s.json#/$defs/n"}"##, "null"))
    }

    @Test("a $ref cycle that never consumes input is refused at compile time")
    func referenceCycles() throws {
        #expect(compileError(##"{"$ref":"#"}"##)?.kind == .referenceCycle("# → #"))
        let mutual = compileError(##"{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"allOf":[{"$ref":"#/$defs/a"}]}},"$ref":"#/$defs/a"}"##)
        guard case .referenceCycle? = mutual?.kind else { Issue.record("no cycle error: \(String(describing: mutual))"); return }
        #expect(compileError(##"{"anyOf":[{"type":"string"},{"not":{"$ref":"#"}}]}"##) != nil)
        #expect(compileError(##"{"items":{"$ref":"#"}}"##) == nil)
    }

    @Test(
        "a $ref outside the schema is refused, never fetched",
        arguments: ["http://example.com/schema.json", "https://json-schema.org/draft/2020-12/schema#/$defs/x", "file:///etc/passwd", "other.json#/a", "urn:uuid:1"])
    func remoteReference(reference: String) throws {
        let error = compileError(##"{"properties":{"a":{"$ref":"\##(reference)"}}}"##)
        #expect(error == JSONSchemaError(kind: .remoteReference(reference), location: "#/properties/a/$ref"))
        #expect(error?.description.contains("never fetched") == true)
    }

    @Test("a $ref to a missing definition or an anchor is a schema error")
    func unresolvable() {
        #expect(compileError(##"{"$ref":"#/$defs/missing"}"##)?.kind == .unresolvableReference("#/$defs/missing"))
        #expect(compileError(##"{"$ref":"#anchor"}"##)?.kind == .unresolvableReference("#anchor"))
        #expect(compileError(##"{"$ref":"#/$defs/x~2"}"##)?.kind == .unresolvableReference("#/$defs/x~2"))
    }

    // MARK: - Malformed schemas

    @Test(
        "a malformed schema is a typed error with its location",
        arguments: [
            ("[]", "#"),
            ("1", "#"),
            (#"{"properties":{"a":3}}"#, "#/properties/a"),
            (#"{"type":"strin"}"#, "#/type"),
            (#"{"type":3}"#, "#/type"),
            (#"{"minimum":"3"}"#, "#/minimum"),
            (#"{"minLength":-1}"#, "#/minLength"),
            (#"{"maxItems":1.5}"#, "#/maxItems"),
            (#"{"multipleOf":0}"#, "#/multipleOf"),
            (#"{"required":[1]}"#, "#/required"),
            (#"{"enum":{}}"#, "#/enum"),
            (#"{"anyOf":[]}"#, "#/anyOf"),
            (#"{"allOf":{}}"#, "#/allOf"),
            (#"{"pattern":1}"#, "#/pattern"),
            (#"{"$ref":1}"#, "#/$ref"),
            (#"{"uniqueItems":"yes"}"#, "#/uniqueItems"),
            (#"{"items":[{"type":1}]}"#, "#/items/0/type"),
        ])
    func malformedSchema(schema: String, location: String) {
        #expect(compileError(schema)?.location == location, "\(schema): \(String(describing: compileError(schema)))")
    }

    @Test("schema text that is not JSON, or nests too deep, is a schema error")
    func notJSONOrTooDeep() {
        guard case .malformedJSON(let parse)? = compileError(#"{"type":"#)?.kind else { Issue.record("not malformedJSON"); return }
        #expect(parse.offset == 8)
        let deep = String(repeating: #"{"not":"#, count: 200) + "{}" + String(repeating: "}", count: 200)
        #expect(compileError(deep)?.kind == .tooDeep(limit: JSONSchemaCompiler.maxNesting))
        let deeperThanJSON = String(repeating: "[", count: 100_000)
        guard case .malformedJSON? = compileError(deeperThanJSON)?.kind else { Issue.record("100k brackets compiled"); return }
    }

    // MARK: - Deep instances

    @Test("a 100k-deep instance under a recursive schema is reported, not a stack overflow")
    func deepInstance() throws {
        var value = JSONValue.null
        for _ in 0..<100_000 { value = .array([value]) }
        let schema = try JSONSchema(compiling: ##"{"items":{"$ref":"#"}}"##)
        let violations = schema.validate(value)
        #expect(violations.count == 1)
        #expect(violations.first?.rule == "nested deeper than \(JSONSchemaEvaluation.maxDepth) levels")
        #expect(!schema.isValid(value))
        #expect(try JSONSchema(compiling: #"{"type":"array"}"#).validate(value).isEmpty)
        Self.dismantle(&value)
    }

    @Test("a schema is Sendable and validates concurrently")
    func concurrent() async throws {
        let schema = try JSONSchema(compiling: JSONSchemaBenchmark.toolSchema)
        let arguments = try JSONValue.parse(JSONSchemaBenchmark.toolArguments)
        let results = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 { group.addTask { (0..<200).allSatisfy { _ in schema.isValid(arguments) } } }
            return await group.reduce(true) { $0 && $1 }
        }
        #expect(results)
    }
}

@Suite("JSON Schema benchmark")
struct JSONSchemaBenchmarkTests {
    @Test("the benchmark runs and prints its figures (never asserted: timing is the bench's job)")
    func runs() {
        print(JSONSchemaBenchmark.run(iterations: 2_000))
    }
}
