import Foundation

/// `text` as a JSON string literal, for the server configs the demo and the benchmark write.
func jsonQuoted(_ text: String) -> String {
    (try? String(decoding: JSONEncoder().encode(text), as: UTF8.self)) ?? "\"\""
}
