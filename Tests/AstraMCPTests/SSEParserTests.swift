import Testing

@testable import AstraMCP

@Suite("Event-stream parser")
struct SSEParserTests {
    func parse(_ text: String, chunks: [Int]? = nil) throws -> [SSEParser.Event] {
        var parser = SSEParser(maxLineBytes: 1024, maxEventBytes: 4096)
        let bytes = Array(text.utf8)
        guard let chunks else { return try parser.feed(bytes) }
        var events: [SSEParser.Event] = []
        var start = 0
        for size in chunks where start < bytes.count {
            let end = min(bytes.count, start + size)
            events += try parser.feed(bytes[start..<end])
            start = end
        }
        if start < bytes.count { events += try parser.feed(bytes[start...]) }
        return events
    }

    @Test("data lines join with LF; an empty line dispatches; the default type is message")
    func basic() throws {
        let events = try parse("data: {\"a\":1}\ndata: second\n\n")
        #expect(events == [.init(type: "message", data: "{\"a\":1}\nsecond", lastEventID: "")])
    }

    @Test("event, id and retry fields; comments ignored; one leading space stripped")
    func fields() throws {
        var parser = SSEParser()
        let events = try parser.feed(Array(": keep-alive\nevent: endpoint\nid: 7\nretry: 3000\ndata:/messages?s=1\n\n".utf8))
        #expect(events == [.init(type: "endpoint", data: "/messages?s=1", lastEventID: "7")])
        #expect(parser.retryMilliseconds == 3000)
        #expect(parser.lastEventID == "7")
    }

    @Test("CRLF, LF and CR all end lines, also when CRLF is split between reads")
    func lineEndings() throws {
        let text = "data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r"
        let expected = [SSEParser.Event(type: "message", data: "a\nb\nc", lastEventID: ""), .init(type: "message", data: "d", lastEventID: "")]
        #expect(try parse(text) == expected)
        #expect(try parse(text, chunks: Array(repeating: 1, count: text.utf8.count)) == expected)
    }

    @Test("an event without data is dropped; an id without data still sets the last id")
    func noData() throws {
        var parser = SSEParser()
        #expect(try parser.feed(Array("event: ping\n\nid: 9\n\ndata: x\n\n".utf8)) == [.init(type: "message", data: "x", lastEventID: "9")])
    }

    @Test("an id containing NUL is ignored; a non-numeric retry is ignored")
    func invalidFields() throws {
        var parser = SSEParser()
        _ = try parser.feed(Array("id: 1\n\nid: a\u{0}b\nretry: 12a\ndata: x\n\n".utf8))
        #expect(parser.lastEventID == "1")
        #expect(parser.retryMilliseconds == nil)
    }

    @Test("a leading byte-order mark is skipped")
    func byteOrderMark() throws {
        #expect(try parse("\u{FEFF}data: x\n\n") == [.init(type: "message", data: "x", lastEventID: "")])
    }

    @Test("Last-Event-ID is the id of the last complete event, not of one cut off")
    func cutEventKeepsEarlierID() throws {
        var parser = SSEParser()
        #expect(try parser.feed(Array("id: 1\ndata: a\n\nid: 2\ndata: par".utf8)).count == 1)
        #expect(parser.lastEventID == "1", "event 2 is not complete")
        parser.finish()
        #expect(parser.lastEventID == "1")
        #expect(try parser.feed(Array("data: x\n\n".utf8)) == [.init(type: "message", data: "x", lastEventID: "1")])
    }

    @Test("an unterminated event is discarded at the end of the stream")
    func unterminated() throws {
        var parser = SSEParser()
        #expect(try parser.feed(Array("data: partial\n".utf8)).isEmpty)
        parser.finish()
        #expect(try parser.feed(Array("data: next\n\n".utf8)) == [.init(type: "message", data: "next", lastEventID: "")])
    }

    @Test("size limits are enforced while streaming")
    func limits() {
        #expect(throws: SSEParser.TooLarge.self) {
            var parser = SSEParser(maxLineBytes: 16, maxEventBytes: 1024)
            _ = try parser.feed(Array(("data: " + String(repeating: "x", count: 20)).utf8))  // no line end yet
        }
        #expect(throws: SSEParser.TooLarge.self) {
            var parser = SSEParser(maxLineBytes: 1024, maxEventBytes: 32)
            for _ in 0..<10 { _ = try parser.feed(Array("data: 0123456789\n".utf8)) }
        }
    }

    @Test("any split of a stream into reads gives the same events (randomised)")
    func randomSplits() throws {
        let text = ": c\r\nevent: a\r\ndata: 1\r\ndata: 2\n\nid: x\rdata: é ü\r\rretry: 5\ndata:no-space\n\n"
        let whole = try parse(text)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            let chunks = (0..<20).map { _ in Int.random(in: 1...7, using: &generator) }
            #expect(try parse(text, chunks: chunks) == whole)
        }
    }

    @Test("random bytes never crash the parser and respect its limits")
    func fuzz() {
        var generator = SystemRandomNumberGenerator()
        let alphabet: [UInt8] = Array("data:event:id:retry: \r\n\u{0}x:".utf8) + [0xEF, 0xBB, 0xBF, 0xFF]
        for _ in 0..<500 {
            var parser = SSEParser(maxLineBytes: 64, maxEventBytes: 256)
            let bytes = (0..<Int.random(in: 0...400, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }
            do {
                for event in try parser.feed(bytes) { #expect(event.data.utf8.count <= 256) }
            } catch {
                #expect(error.limit == 64 || error.limit == 256)
            }
        }
    }
}
