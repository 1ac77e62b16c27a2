import Testing

@testable import AstraMCP

@Suite("LineFramer")
struct LineFramerTests {
    /// Feeds `chunks` in order and returns every complete line; an oversized one as
    /// `<oversized SIZE: PREFIX>`.
    private func lines(_ chunks: [String], limit: Int = 1024) -> [String] {
        var framer = LineFramer(maxMessageBytes: limit)
        var result: [String] = []
        for chunk in chunks {
            Array(chunk.utf8).withUnsafeBytes { bytes in
                framer.feed(
                    bytes, onMessage: { result.append(String(decoding: $0, as: UTF8.self)) },
                    onOversized: { result.append("<oversized \($1): \(String(decoding: $0, as: UTF8.self))>") })
            }
        }
        return result
    }

    @Test("a line split across chunks is delivered once, whole")
    func splitAcrossChunks() {
        #expect(lines([#"{"id":"#, "1,", #""result":{}}"#, "\n"]) == [#"{"id":1,"result":{}}"#])
    }

    @Test("many lines in one chunk are each delivered, a trailing partial is kept")
    func manyLinesInOneChunk() {
        #expect(lines(["a\nbb\nccc\ndd", "d\n"]) == ["a", "bb", "ccc", "ddd"])
    }

    @Test("nothing is delivered until the newline arrives")
    func noNewlineNoMessage() {
        #expect(lines(["abc", "def"]).isEmpty)
    }

    @Test("empty lines are delivered as empty messages")
    func emptyLines() {
        #expect(lines(["\n\nx\n"]) == ["", "", "x"])
    }

    @Test("a line over the cap is reported once with its size and first bytes, and the next line still arrives")
    func sizeCapAcrossChunks() {
        let big = String(repeating: "x", count: 12) + String(repeating: "y", count: 12)
        #expect(lines([String(big.prefix(12)), String(big.suffix(12)) + "\nok\n"], limit: 16) == ["<oversized 24: \(big)>", "ok"])
    }

    @Test("a whole line over the cap inside one chunk is reported, the lines around it delivered")
    func sizeCapWithinOneChunk() {
        let big = String(repeating: "x", count: 40)
        #expect(lines(["a\n" + big + "\nb\n"], limit: 16) == ["a", "<oversized 40: \(big)>", "b"])
    }

    @Test("an oversized line keeps only its first bytes in memory, however long it is")
    func oversizedKeepsPrefixOnly() {
        let chunk = String(repeating: "z", count: 10_000)
        let result = lines(Array(repeating: chunk, count: 50) + ["\n"], limit: 1024)
        #expect(result == ["<oversized 500000: \(String(repeating: "z", count: LineFramer.keptPrefixBytes))>"])
    }

    @Test("lines at the cap pass")
    func atTheCap() throws {
        let line = String(repeating: "z", count: 16)
        #expect(lines([line + "\n", String(line.prefix(8)), String(line.suffix(8)) + "\n"], limit: 16) == [line, line])
    }
}
