import Testing

@testable import AstraMCP

@Suite("LineFramer")
struct LineFramerTests {
    /// Feeds `chunks` in order and returns every complete line.
    private func lines(_ chunks: [String], limit: Int = 1024) throws -> [String] {
        var framer = LineFramer(maxMessageBytes: limit)
        var result: [String] = []
        for chunk in chunks {
            try Array(chunk.utf8).withUnsafeBytes { bytes in
                try framer.feed(bytes) { result.append(String(decoding: $0, as: UTF8.self)) }
            }
        }
        return result
    }

    @Test("a line split across chunks is delivered once, whole")
    func splitAcrossChunks() throws {
        #expect(try lines([#"{"id":"#, "1,", #""result":{}}"#, "\n"]) == [#"{"id":1,"result":{}}"#])
    }

    @Test("many lines in one chunk are each delivered, a trailing partial is kept")
    func manyLinesInOneChunk() throws {
        #expect(try lines(["a\nbb\nccc\ndd", "d\n"]) == ["a", "bb", "ccc", "ddd"])
    }

    @Test("nothing is delivered until the newline arrives")
    func noNewlineNoMessage() throws {
        #expect(try lines(["abc", "def"]).isEmpty)
    }

    @Test("empty lines are delivered as empty messages")
    func emptyLines() throws {
        #expect(try lines(["\n\nx\n"]) == ["", "", "x"])
    }

    @Test("a partial line over the cap throws while reading, before its newline")
    func sizeCapWhileReading() {
        #expect(throws: LineFramer.MessageTooLarge.self) {
            _ = try lines([String(repeating: "x", count: 10), String(repeating: "y", count: 10)], limit: 16)
        }
    }

    @Test("a line completed across chunks over the cap throws")
    func sizeCapAcrossChunks() {
        #expect(throws: LineFramer.MessageTooLarge.self) {
            _ = try lines([String(repeating: "x", count: 12), String(repeating: "y", count: 12) + "\n"], limit: 16)
        }
    }

    @Test("a whole line over the cap inside one chunk throws")
    func sizeCapWithinOneChunk() {
        #expect(throws: LineFramer.MessageTooLarge.self) {
            _ = try lines([String(repeating: "x", count: 40) + "\n"], limit: 16)
        }
    }

    @Test("lines at the cap pass")
    func atTheCap() throws {
        let line = String(repeating: "z", count: 16)
        #expect(try lines([line + "\n", String(line.prefix(8)), String(line.suffix(8)) + "\n"], limit: 16) == [line, line])
    }
}
