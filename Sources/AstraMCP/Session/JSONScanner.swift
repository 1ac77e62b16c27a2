/// A minimal, allocation-light scanner over one JSON text.
///
/// The session layer parses only what it must: which kind of JSON-RPC message a line is, its
/// `id`, and a few fields of a result. Everything else — above all a tool's result — stays as
/// the bytes the server sent, so it can be written to PostgreSQL without a decode/re-encode
/// round trip. The scanner finds the byte ranges of an object's top-level members; it does not
/// build values.
struct JSONScanner {
    let bytes: UnsafeRawBufferPointer

    /// A top-level member of an object: its (unescaped) key and the byte range of its value.
    struct Member {
        var key: String
        var value: Range<Int>
    }

    struct MalformedJSON: Error, CustomStringConvertible {
        var offset: Int
        var description: String { "malformed JSON at byte \(offset)" }
    }

    /// The members of the object spanning `range` (the whole text by default).
    func members(of range: Range<Int>? = nil) throws(MalformedJSON) -> [Member] {
        let range = range ?? 0..<bytes.count
        var i = skipWhitespace(range.lowerBound, end: range.upperBound)
        guard i < range.upperBound, bytes[i] == UInt8(ascii: "{") else { throw MalformedJSON(offset: i) }
        i += 1
        var result: [Member] = []
        result.reserveCapacity(4)
        while true {
            i = skipWhitespace(i, end: range.upperBound)
            guard i < range.upperBound else { throw MalformedJSON(offset: i) }
            if bytes[i] == UInt8(ascii: "}") { return result }
            if bytes[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            guard bytes[i] == UInt8(ascii: "\"") else { throw MalformedJSON(offset: i) }
            let keyEnd = try skipString(i, end: range.upperBound)
            let key = try decodeString(i..<keyEnd)
            i = skipWhitespace(keyEnd, end: range.upperBound)
            guard i < range.upperBound, bytes[i] == UInt8(ascii: ":") else { throw MalformedJSON(offset: i) }
            i = skipWhitespace(i + 1, end: range.upperBound)
            let valueEnd = try skipValue(i, end: range.upperBound)
            result.append(Member(key: key, value: i..<valueEnd))
            i = valueEnd
        }
    }

    /// The first byte of the value in `range` after whitespace, or nil when empty.
    func firstByte(of range: Range<Int>) -> UInt8? {
        let i = skipWhitespace(range.lowerBound, end: range.upperBound)
        return i < range.upperBound ? bytes[i] : nil
    }

    /// Whether the value in `range` is the literal `true`.
    func isTrue(_ range: Range<Int>) -> Bool {
        range.count == 4 && bytes[range.lowerBound] == UInt8(ascii: "t")
    }

    /// The value in `range` as an integer, if it is a plain JSON integer.
    func integer(_ range: Range<Int>) -> Int? {
        var value = 0
        var negative = false
        var i = range.lowerBound
        if i < range.upperBound, bytes[i] == UInt8(ascii: "-") {
            negative = true
            i += 1
        }
        guard i < range.upperBound else { return nil }
        while i < range.upperBound {
            let digit = Int(bytes[i]) - 48
            guard digit >= 0, digit <= 9 else { return nil }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(digit)
            if o1 || o2 { return nil }
            value = sum
            i += 1
        }
        return negative ? -value : value
    }

    /// The value in `range` as a string, if it is a JSON string.
    func string(_ range: Range<Int>) -> String? {
        guard firstByte(of: range) == UInt8(ascii: "\"") else { return nil }
        return try? decodeString(range)
    }

    /// The raw text of `range`.
    func text(_ range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    // MARK: Skipping

    func skipWhitespace(_ start: Int, end: Int) -> Int {
        var i = start
        while i < end {
            switch bytes[i] {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            default: return i
            }
        }
        return i
    }

    /// Skips the string starting at `start` (its opening quote); returns the index after it.
    func skipString(_ start: Int, end: Int) throws(MalformedJSON) -> Int {
        var i = start + 1
        while i < end {
            switch bytes[i] {
            case UInt8(ascii: "\\"): i += 2
            case UInt8(ascii: "\""): return i + 1
            default: i += 1
            }
        }
        throw MalformedJSON(offset: start)
    }

    /// Skips the value starting at `start`; returns the index after it.
    func skipValue(_ start: Int, end: Int) throws(MalformedJSON) -> Int {
        guard start < end else { throw MalformedJSON(offset: start) }
        switch bytes[start] {
        case UInt8(ascii: "\""):
            return try skipString(start, end: end)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            var i = start
            while i < end {
                switch bytes[i] {
                case UInt8(ascii: "\""):
                    i = try skipString(i, end: end)
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 { return i + 1 }
                default:
                    break
                }
                i += 1
            }
            throw MalformedJSON(offset: start)
        default:
            // A number or a literal: runs until a delimiter.
            var i = start
            while i < end {
                switch bytes[i] {
                case UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x09, 0x0A, 0x0D:
                    if i == start { throw MalformedJSON(offset: start) }
                    return i
                default:
                    i += 1
                }
            }
            return i
        }
    }

    /// Decodes the JSON string literal in `range` (quotes included).
    func decodeString(_ range: Range<Int>) throws(MalformedJSON) -> String {
        let inner = (range.lowerBound + 1)..<(range.upperBound - 1)
        guard inner.lowerBound <= inner.upperBound else { throw MalformedJSON(offset: range.lowerBound) }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[inner])
        if !slice.contains(UInt8(ascii: "\\")) {
            return String(decoding: slice, as: UTF8.self)
        }
        var scalars = String.UnicodeScalarView()
        var utf8: [UInt8] = []
        var i = inner.lowerBound
        func flush() {
            if !utf8.isEmpty {
                scalars.append(contentsOf: String(decoding: utf8, as: UTF8.self).unicodeScalars)
                utf8.removeAll(keepingCapacity: true)
            }
        }
        while i < inner.upperBound {
            let byte = bytes[i]
            guard byte == UInt8(ascii: "\\") else {
                utf8.append(byte)
                i += 1
                continue
            }
            guard i + 1 < inner.upperBound else { throw MalformedJSON(offset: i) }
            let escaped = bytes[i + 1]
            i += 2
            switch escaped {
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "u"):
                guard var code = hex4(at: i, end: inner.upperBound) else { throw MalformedJSON(offset: i) }
                i += 4
                if (0xD800..<0xDC00).contains(code), i + 6 <= inner.upperBound, bytes[i] == UInt8(ascii: "\\"),
                    bytes[i + 1] == UInt8(ascii: "u"), let low = hex4(at: i + 2, end: inner.upperBound),
                    (0xDC00..<0xE000).contains(low)
                {
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                }
                flush()
                scalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
            default: utf8.append(escaped)
            }
        }
        flush()
        return String(scalars)
    }

    private func hex4(at start: Int, end: Int) -> UInt32? {
        guard start + 4 <= end else { return nil }
        var value: UInt32 = 0
        for i in start..<(start + 4) {
            let b = bytes[i]
            let digit: UInt32
            switch b {
            case 0x30...0x39: digit = UInt32(b - 0x30)
            case 0x41...0x46: digit = UInt32(b - 0x41 + 10)
            case 0x61...0x66: digit = UInt32(b - 0x61 + 10)
            default: return nil
            }
            value = value << 4 | digit
        }
        return value
    }
}

extension JSONScanner {
    /// Encodes `string` as a JSON string literal, quotes included.
    static func quote(_ string: String) -> String {
        var out = "\""
        out.reserveCapacity(string.utf8.count + 2)
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
        return out
    }
}
