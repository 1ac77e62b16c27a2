/// Splits a byte stream into newline-delimited messages (the stdio transport's framing),
/// with a cap on one message's size enforced while reading, not after.
struct LineFramer {
    struct MessageTooLarge: Error {
        var limit: Int
    }

    let maxMessageBytes: Int
    private var partial: [UInt8] = []

    init(maxMessageBytes: Int) {
        self.maxMessageBytes = maxMessageBytes
    }

    /// Feeds received bytes; calls `onMessage` for every complete line (without the newline).
    mutating func feed(
        _ chunk: UnsafeRawBufferPointer,
        onMessage: (UnsafeRawBufferPointer) -> Void
    ) throws(MessageTooLarge) {
        var start = 0
        while let newline = chunk[start...].firstIndex(of: 0x0A) {
            guard partial.count + (newline - start) <= maxMessageBytes else { throw MessageTooLarge(limit: maxMessageBytes) }
            if partial.isEmpty {
                onMessage(UnsafeRawBufferPointer(rebasing: chunk[start..<newline]))
            } else {
                partial.append(contentsOf: chunk[start..<newline])
                guard partial.count <= maxMessageBytes else { throw MessageTooLarge(limit: maxMessageBytes) }
                partial.withUnsafeBytes { onMessage($0) }
                partial.removeAll(keepingCapacity: partial.capacity <= 1 << 16)
            }
            start = newline + 1
        }
        if start < chunk.count {
            partial.append(contentsOf: chunk[start...])
            guard partial.count <= maxMessageBytes else { throw MessageTooLarge(limit: maxMessageBytes) }
        }
    }
}
