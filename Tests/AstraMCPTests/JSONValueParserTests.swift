import Testing

@testable import AstraMCP

@Suite("JSONValue parser")
struct JSONValueParserTests {
    @Test("scalars, containers, and the integer/double distinction")
    func values() throws {
        #expect(try JSONValue.parse(#" {"a": [1, 1.0, -0, 1e2, true, false, null, "x"]} "#)
            == .object(["a": .array([.integer(1), .double(1), .integer(0), .double(100), .bool(true), .bool(false), .null, .string("x")])]))
        guard case .double = try JSONValue.parse("1.0") else { Issue.record("1.0 is not a double"); return }
        guard case .integer(Int64.min) = try JSONValue.parse("-9223372036854775808") else { Issue.record("Int64.min"); return }
        guard case .double(let big) = try JSONValue.parse("9223372036854775808") else { Issue.record("2^63 is not a double"); return }
        #expect(big == 9_223_372_036_854_775_808.0)
    }

    @Test("escapes, surrogate pairs and raw UTF-8 decode to the same string")
    func strings() throws {
        #expect(try JSONValue.parse(#""a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00""#) == .string("a\"\\/\u{8}\u{c}\n\r\té😀"))
        #expect(try JSONValue.parse("\"é😀\"") == .string("é😀"))
    }

    @Test("JSON equality: 1 == 1.0, member order is irrelevant, true is not 1, strings by code point")
    func equality() throws {
        #expect(try JSONValue.parse(#"{"a":1,"b":[2.0]}"#) == JSONValue.parse(#"{"b":[2],"a":1.0}"#))
        #expect(JSONValue.bool(true) != .integer(1))
        #expect(JSONValue.string("\u{e9}") != .string("e\u{301}"))  // NFC and NFD differ in JSON
        #expect(Set([JSONValue.integer(1), .double(1)]).count == 1)
    }

    @Test(
        "malformed JSON is an error with the offset",
        arguments: [
            ("", JSONParseError(kind: .unexpectedEnd, offset: 0)),
            ("[1,]", JSONParseError(kind: .unexpectedByte(UInt8(ascii: "]")), offset: 3)),
            ("{\"a\" 1}", JSONParseError(kind: .unexpectedByte(UInt8(ascii: "1")), offset: 5)),
            ("01", JSONParseError(kind: .trailingContent, offset: 1)),
            ("1.", JSONParseError(kind: .invalidNumber, offset: 0)),
            ("-", JSONParseError(kind: .invalidNumber, offset: 0)),
            ("1e999", JSONParseError(kind: .invalidNumber, offset: 0)),
            ("tru", JSONParseError(kind: .unexpectedEnd, offset: 3)),
            ("nul1", JSONParseError(kind: .unexpectedByte(UInt8(ascii: "1")), offset: 3)),
            ("\"a\u{1}\"", JSONParseError(kind: .controlCharacterInString, offset: 2)),
            (#""\x""#, JSONParseError(kind: .invalidEscape, offset: 1)),
            (#""\ud800""#, JSONParseError(kind: .invalidEscape, offset: 1)),
            (#""\udc00""#, JSONParseError(kind: .invalidEscape, offset: 1)),
            ("\"abc", JSONParseError(kind: .unexpectedEnd, offset: 4)),
            ("[1] x", JSONParseError(kind: .trailingContent, offset: 4)),
        ])
    func malformed(text: String, expected: JSONParseError) {
        #expect(throws: expected) { try JSONValue.parse(text) }
    }

    @Test("the error message names the byte and the problem")
    func message() {
        #expect(JSONParseError(kind: .unexpectedByte(UInt8(ascii: "]")), offset: 3).description == "malformed JSON at byte 3: unexpected character ']'")
    }

    @Test("100k nested arrays are refused at the depth limit, without recursion")
    func deepNesting() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError(kind: .tooDeep(limit: 256), offset: 256)) { try JSONValue.parse(deep) }
        // Even with no practical limit the parser itself does not recurse.
        var value = (try? JSONValue.parse(deep, maxDepth: 200_000)) ?? .null
        #expect(value != .null)
        JSONSchemaTests.dismantle(&value)
        #expect(throws: Never.self) { try JSONValue.parse(String(repeating: "[", count: 256) + String(repeating: "]", count: 256)) }
    }
}
