import Foundation
import Synchronization

/// A `pattern` compiled once, shared by every schema that uses the same source.
///
/// JSON Schema patterns are ECMA-262 regular expressions matched anywhere in the string
/// (unanchored). They run on ICU through NSRegularExpression, whose syntax is a superset of
/// the ECMA-262 subset tool schemas use; the differences (`\d` and `\w` also match
/// non-ASCII digits and letters, as in Python's `re`) do not matter in practice.
struct CompiledPattern: @unchecked Sendable {
    // @unchecked: NSRegularExpression is immutable after init and documented thread-safe.
    let source: String
    private let regex: NSRegularExpression

    /// Compiled patterns by source; bounded so a stream of distinct schemas cannot grow it
    /// without end (when full it starts over — compiling is the cost, not correctness).
    private static let cache = Mutex<[String: CompiledPattern]>([:])
    private static let cacheLimit = 1024

    /// The compiled `source`, or nil when it is not a valid regular expression.
    static func compile(_ source: String) -> CompiledPattern? {
        if let cached = cache.withLock({ $0[source] }) { return cached }
        guard let regex = try? NSRegularExpression(pattern: source, options: []) else { return nil }
        let pattern = CompiledPattern(source: source, regex: regex)
        cache.withLock { cache in
            if cache.count >= cacheLimit { cache.removeAll(keepingCapacity: true) }
            cache[source] = pattern
        }
        return pattern
    }

    /// Whether the pattern matches somewhere in `string`.
    func matches(_ string: String) -> Bool {
        regex.firstMatch(in: string, options: [], range: NSRange(location: 0, length: string.utf16.count)) != nil
    }
}
