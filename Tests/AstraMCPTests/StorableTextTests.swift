import Testing

@testable import AstraMCP

/// What the store does to text PostgreSQL would refuse, before it is bound.
@Suite("Text as PostgreSQL stores it")
struct StorableTextTests {
    @Test("NUL in a message becomes U+FFFD; other text is untouched")
    func nulInMessages() {
        #expect("before\0after".sanitizedForDatabase == "before\u{FFFD}after")
        #expect("plain ✓ text".sanitizedForDatabase == "plain ✓ text")
    }

    @Test("the JSON escape \\u0000 becomes \\ufffd, but an escaped backslash followed by u0000 is text and stays")
    func nulEscapeInResults() {
        typealias Statement = CompleteExecutionsStatement
        #expect(Statement.storableJSON(#"{"text":"a\u0000b"}"#) == #"{"text":"a\ufffdb"}"#)
        #expect(Statement.storableJSON(#"{"text":"a\\u0000b"}"#) == #"{"text":"a\\u0000b"}"#)
        #expect(Statement.storableJSON(#"{"text":"a\\\u0000b"}"#) == #"{"text":"a\\\ufffdb"}"#)
        #expect(Statement.storableJSON(#"{"n":1}"#) == #"{"n":1}"#)
        #expect(Statement.storableJSON(#"\u000"#) == #"\u000"#, "a cut-off escape is left alone")
    }
}

@Suite("CompletionBuffer batches")
struct CompletionBufferTests {
    private func outcome(bytes: Int) -> Completion {
        .finished(ExecutionOutcome(
            id: .init(), leaseToken: .init(), status: .success, outputJSON: String(repeating: "x", count: bytes), errorMessage: nil,
            completedAt: .init(), durationMilliseconds: 1))
    }

    @Test("a batch is bounded in bytes as well as in count; a single larger completion still goes alone")
    func boundedInBytes() async {
        let buffer = CompletionBuffer(maxBatch: 100, maxBatchBytes: 10_000)
        for _ in 0..<5 { buffer.submit(outcome(bytes: 3_000)) }
        buffer.submit(outcome(bytes: 50_000))
        buffer.submit(outcome(bytes: 10))
        buffer.finish()
        var sizes: [Int] = []
        while let batch = await buffer.nextBatch() { sizes.append(batch.count) }
        #expect(sizes == [3, 2, 1, 1])
    }

    @Test("the writer's linger ends the moment enough completions are in, not after its limit")
    func lingerEndsWhenFull() async {
        let buffer = CompletionBuffer(maxBatch: 100)
        await withDiscardingTaskGroup { group in
            group.addTask {
                // An hour: only the third completion can end this wait in a test that passes.
                await buffer.waitForItems(3, atMost: .seconds(3600))
            }
            for _ in 0..<3 { buffer.submit(outcome(bytes: 1)) }
        }
        #expect(buffer.takeAvailable(max: 100, bytes: 1 << 20).count == 3)
        // Already there: no wait at all.
        for _ in 0..<2 { buffer.submit(outcome(bytes: 1)) }
        await buffer.waitForItems(2, atMost: .seconds(3600))
    }
}
