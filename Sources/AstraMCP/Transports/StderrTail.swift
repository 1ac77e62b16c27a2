import Synchronization

/// The last few KiB a child wrote to stderr, kept so that a failure can say what the server
/// said before it died.
final class StderrTail: Sendable {
    private let capacity: Int
    private let buffer = Mutex<[UInt8]>([])
    /// Values that never appear in what the tail says (the child's credentials).
    let secrets: [String]

    init(capacity: Int = 2048, secrets: [String] = []) {
        self.capacity = capacity
        self.secrets = secrets
    }

    func append(_ bytes: UnsafeRawBufferPointer) {
        buffer.withLock { buffer in
            buffer.append(contentsOf: bytes.suffix(capacity))
            if buffer.count > capacity { buffer.removeFirst(buffer.count - capacity) }
        }
    }

    /// The tail as text, trimmed, or nil when the child wrote nothing.
    var text: String? {
        let text = redacting(secrets, in: buffer.withLock { String(decoding: $0, as: UTF8.self) }).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    /// `"; stderr: …"` for appending to an error message, or an empty string.
    var messageSuffix: String {
        guard let text else { return "" }
        let tail = text.count > 500 ? "…" + String(text.suffix(500)) : text
        return "; stderr: " + tail.split(whereSeparator: \.isNewline).joined(separator: " | ")
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: Set<Character>) -> String {
        guard let first = firstIndex(where: { !set.contains($0) }), let last = lastIndex(where: { !set.contains($0) }) else { return "" }
        return String(self[first...last])
    }
}

extension Set where Element == Character {
    fileprivate static let whitespacesAndNewlines: Set<Character> = [" ", "\t", "\n", "\r"]
}
