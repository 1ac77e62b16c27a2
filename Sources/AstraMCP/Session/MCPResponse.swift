/// The reply to one request: the raw bytes of the message and where its `result` or `error` is.
///
/// A tool's result stays in the bytes the server sent; callers take the `result` text as is.
public struct MCPResponse: Sendable {
    /// The whole JSON-RPC message as received.
    let bytes: [UInt8]
    /// The byte range of `result` within `bytes`.
    let result: Range<Int>

    /// The `result` member as JSON text, verbatim.
    var resultText: String {
        bytes.withUnsafeBytes { JSONScanner(bytes: $0).text(result) }
    }

    /// Runs `body` with a scanner over the message and the range of its result.
    func withResult<T>(_ body: (JSONScanner, Range<Int>) throws -> T) rethrows -> T {
        try bytes.withUnsafeBytes { try body(JSONScanner(bytes: $0), result) }
    }
}
