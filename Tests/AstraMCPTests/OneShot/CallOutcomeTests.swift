import Testing

@testable import AstraMCP

@Suite("What astra-mcpd call prints of a result and a tool list")
struct CallOutcomeTests {
    @Test("content items read as lines; structuredContent stays verbatim")
    func contentLines() {
        let result = #"""
            {"content":[{"type":"text","text":"first\nsecond"},{"type":"image","data":"AAAA","mimeType":"image/png"},
            {"type":"resource_link","uri":"file:///a"},{"type":"resource","resource":{"uri":"file:///b","text":"inline"}},
            {"type":"resource","resource":{"uri":"file:///c","blob":"AA=="}},{"type":"video"}],
            "structuredContent":{"n": 1.10, "big": 12345678901234567890},"isError":false}
            """#
        let (lines, structured) = CallOutcome.read(result)
        #expect(lines == ["first\nsecond", "[image image/png, about 3 bytes]", "[resource link file:///a]", "inline", "[resource file:///c, binary]", "[video content]"])
        #expect(structured == #"{"n": 1.10, "big": 12345678901234567890}"#)
        #expect(CallOutcome.read(#"{"content":[],"structuredContent":null}"#).1 == nil)
    }

    @Test("a listed tool keeps its schemas as the server wrote them")
    func listedTool() throws {
        let tool = try #require(ListedTool(json: #"{"name":"t","description":"Does t.\nMore.","inputSchema":{"$schema":"https://json-schema.org/draft/2020-12/schema", "type":"object"}}"#))
        #expect(tool.summary == "Does t.")
        #expect(tool.inputSchemaJSON == #"{"$schema":"https://json-schema.org/draft/2020-12/schema", "type":"object"}"#)
        #expect(tool.outputSchemaJSON == nil)
        #expect(ListedTool(json: #"{"description":"no name"}"#) == nil)
        #expect(ListedTool(json: #"{"name":"bare"}"#)?.inputSchemaJSON == #"{"type":"object"}"#)
    }
}
