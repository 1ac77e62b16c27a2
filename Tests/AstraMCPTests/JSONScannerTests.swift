import Testing

@testable import AstraMCP

@Suite("JSONScanner")
struct JSONScannerTests {
    /// Runs `body` with a scanner over the UTF-8 bytes of `text`.
    private func scan<T>(_ text: String, _ body: (JSONScanner) throws -> T) rethrows -> T {
        try Array(text.utf8).withUnsafeBytes { try body(JSONScanner(bytes: $0)) }
    }

    @Test("top-level members keep their raw value ranges")
    func members() throws {
        let text = #" { "id" : 42, "method":"tools/list", "ok": true, "none": null, "n": -1.5e3 } "#
        try scan(text) { scanner in
            let members = try scanner.members()
            #expect(members.map(\.key) == ["id", "method", "ok", "none", "n"])
            #expect(scanner.integer(members[0].value) == 42)
            #expect(scanner.string(members[1].value) == "tools/list")
            #expect(scanner.isTrue(members[2].value))
            #expect(!scanner.isTrue(members[3].value))
            #expect(scanner.text(members[4].value) == "-1.5e3")
            #expect(scanner.integer(members[4].value) == nil)
        }
    }

    @Test("nested objects and arrays are skipped whole, braces inside strings included")
    func nestedValues() throws {
        let text = #"{"result":{"content":[{"type":"text","text":"a } ] { [ b"}],"isError":false},"id":7}"#
        try scan(text) { scanner in
            let members = try scanner.members()
            #expect(members.map(\.key) == ["result", "id"])
            #expect(scanner.text(members[0].value) == #"{"content":[{"type":"text","text":"a } ] { [ b"}],"isError":false}"#)
            #expect(scanner.integer(members[1].value) == 7)
            let inner = try scanner.members(of: members[0].value)
            #expect(inner.map(\.key) == ["content", "isError"])
            #expect(scanner.firstByte(of: inner[0].value) == UInt8(ascii: "["))
        }
    }

    @Test("escapes are decoded in keys and string values")
    func escapes() throws {
        let text = #"{"k\"ey":"line\nnext\ttab \\ \/ \"q\" \u00e9 \u20AC"}"#
        try scan(text) { scanner in
            let members = try scanner.members()
            #expect(members.first?.key == "k\"ey")
            #expect(scanner.string(members[0].value) == "line\nnext\ttab \\ / \"q\" é €")
        }
    }

    @Test("a \\u surrogate pair decodes to one scalar; a lone surrogate to U+FFFD")
    func surrogatePairs() throws {
        try scan(#"{"s":"\ud83d\ude00!","lone":"\ud83d x"}"#) { scanner in
            let members = try scanner.members()
            #expect(scanner.string(members[0].value) == "😀!")
            #expect(scanner.string(members[1].value) == "\u{FFFD} x")
        }
    }

    @Test("a bad escape in a value is found when the value is read")
    func badEscapeInValue() throws {
        try scan(#"{"a":"bad \u12G4 escape"}"#) { scanner in
            let members = try scanner.members()
            #expect(scanner.string(members[0].value) == nil)
        }
    }

    @Test("an escaped quote does not end a string value")
    func escapedQuoteInValue() throws {
        try scan(#"{"a":"say \"hi\", then go","b":1}"#) { scanner in
            let members = try scanner.members()
            #expect(members.map(\.key) == ["a", "b"])
            #expect(scanner.string(members[0].value) == #"say "hi", then go"#)
        }
    }

    @Test("integers: sign, overflow and non-integers")
    func integers() throws {
        try scan(#"{"a":-17,"b":99999999999999999999,"c":"3","d":1.0}"#) { scanner in
            let members = try scanner.members()
            #expect(scanner.integer(members[0].value) == -17)
            #expect(scanner.integer(members[1].value) == nil)
            #expect(scanner.integer(members[2].value) == nil)
            #expect(scanner.integer(members[3].value) == nil)
        }
    }

    @Test(
        "malformed input throws",
        arguments: [
            "",
            "   ",
            "[1,2]",
            "\"text\"",
            "{",
            #"{"a":1"#,
            #"{"a" 1}"#,
            #"{a:1}"#,
            #"{"a":"unterminated}"#,
            #"{"a":{"b":[1,2}"#,
            #"{"a":}"#,
            #"{"bad \u12G4 escape":1}"#,
        ])
    func malformed(_ text: String) {
        _ = scan(text) { scanner in
            #expect(throws: JSONScanner.MalformedJSON.self) { try scanner.members() }
        }
    }

    @Test("quote escapes what JSON requires and round-trips through the scanner")
    func quoteRoundTrip() throws {
        let original = "a \"b\" \\ c\nd\te\r\u{01} é 😀"
        let quoted = JSONScanner.quote(original)
        #expect(quoted.hasPrefix("\"") && quoted.hasSuffix("\""))
        #expect(quoted.contains("\\u0001"))
        try scan("{\"k\":\(quoted)}") { scanner in
            let members = try scanner.members()
            #expect(scanner.string(members[0].value) == original)
        }
    }
}
