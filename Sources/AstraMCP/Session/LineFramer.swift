/// Splits a byte stream into newline-delimited messages (the stdio transport's framing),
/// with a cap on one message's size enforced while reading, not after.
///
/// A line over the cap is never held in memory: only its first ``keptPrefixBytes`` are kept,
/// the rest is skipped up to its newline, and the line is reported as oversized (so the one
/// request it answers can fail while the session goes on).
struct LineFramer {
    /// How much of an oversized line is kept: enough to find its JSON-RPC `id`.
    static let keptPrefixBytes = 512

    let maxMessageBytes: Int
    private var partial: [UInt8] = []
    /// The size so far of the oversized line being skipped, or nil.
    private var skipping: Int?

    init(maxMessageBytes: Int) {
        self.maxMessageBytes = maxMessageBytes
    }

    /// Feeds received bytes; calls `onMessage` for every complete line (without the newline),
    /// and `onOversized` with the first bytes and the whole size of every line over the cap,
    /// once its newline arrives.
    mutating func feed(
        _ chunk: UnsafeRawBufferPointer,
        onMessage: (UnsafeRawBufferPointer) -> Void,
        onOversized: (UnsafeRawBufferPointer, Int) -> Void
    ) {
        var start = 0
        while start < chunk.count {
            let newline = chunk[start...].firstIndex(of: 0x0A)
            let end = newline ?? chunk.count
            let piece = UnsafeRawBufferPointer(rebasing: chunk[start..<end])
            start = end + 1
            if let size = skipping {
                skipping = size + piece.count
            } else if partial.count + piece.count > maxMessageBytes {
                skipping = partial.count + piece.count
                if partial.count > Self.keptPrefixBytes { partial.removeSubrange(Self.keptPrefixBytes...) }
                partial.append(contentsOf: piece.prefix(Self.keptPrefixBytes - partial.count))
            } else if newline != nil && partial.isEmpty {
                onMessage(piece)
                continue
            } else {
                partial.append(contentsOf: piece)
            }
            guard newline != nil else { return }
            if let size = skipping {
                partial.withUnsafeBytes { onOversized($0, size) }
                skipping = nil
                partial.removeAll(keepingCapacity: false)
            } else {
                partial.withUnsafeBytes { onMessage($0) }
                partial.removeAll(keepingCapacity: partial.capacity <= 1 << 16)
            }
        }
    }
}
