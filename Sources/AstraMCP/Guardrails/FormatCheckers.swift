/// The `format` values the validator asserts, and how.
///
/// JSON Schema 2020-12 makes `format` an annotation by default; we assert the three formats
/// MCP tools actually use, because a caller who writes `"format": "email"` expects the
/// check. Each checker is strict and has no dependencies:
///
/// - `date-time`: RFC 3339 `date-time` (`2024-05-01T12:30:00Z`, `...T12:30:00.5+02:00`;
///   `T` and `Z` in either case), with real month lengths and leap years. A leap second
///   (`:60`) is refused, as the reference implementation (`rfc3339-validator`) does.
/// - `email`: an RFC 5321 mailbox: a dot-atom or quoted local part (at most 64 bytes), `@`,
///   and a host name or an address literal (`[192.0.2.1]`, `[IPv6:...]`). ASCII only
///   (internationalised addresses are `idn-email`, not asserted).
/// - `uri`: an RFC 3986 URI: a scheme and the rest of the grammar (authority, IPv6 and
///   IPvFuture literals, percent escapes), ASCII only. Relative references are refused.
///
/// Every other format is an annotation and not checked.
enum FormatChecker: Sendable {
    case dateTime, email, uri

    init?(name: String) {
        switch name {
        case "date-time": self = .dateTime
        case "email": self = .email
        case "uri": self = .uri
        default: return nil
        }
    }

    var name: String {
        switch self {
        case .dateTime: "date-time"
        case .email: "email"
        case .uri: "uri"
        }
    }

    func accepts(_ string: String) -> Bool {
        var string = string
        return string.withUTF8 { bytes in
            switch self {
            case .dateTime: Self.isDateTime(bytes)
            case .email: Self.isEmail(bytes)
            case .uri: Self.isURI(bytes)
            }
        }
    }

    // MARK: - date-time

    static func isDateTime(_ s: UnsafeBufferPointer<UInt8>) -> Bool {
        // YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
        guard s.count >= 20 else { return false }
        func digits(_ at: Int, _ count: Int) -> Int? {
            var value = 0
            for i in at..<at + count {
                guard i < s.count, isDigit(s[i]) else { return nil }
                value = value * 10 + Int(s[i] - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = digits(0, 4), s[4] == UInt8(ascii: "-"), let month = digits(5, 2), s[7] == UInt8(ascii: "-"),
            let day = digits(8, 2), s[10] | 0x20 == UInt8(ascii: "t"),
            let hour = digits(11, 2), s[13] == UInt8(ascii: ":"), let minute = digits(14, 2), s[16] == UInt8(ascii: ":"),
            let second = digits(17, 2)
        else { return false }
        guard year >= 1, (1...12).contains(month), hour <= 23, minute <= 59, second <= 59 else { return false }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let monthDays = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard day >= 1, day <= monthDays[month - 1] else { return false }
        var i = 19
        if s[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            while i < s.count, isDigit(s[i]) { i += 1 }
            guard i > start else { return false }
        }
        guard i < s.count else { return false }
        if s[i] | 0x20 == UInt8(ascii: "z") { return i + 1 == s.count }
        guard s[i] == UInt8(ascii: "+") || s[i] == UInt8(ascii: "-"), i + 6 == s.count,
            let offsetHour = digits(i + 1, 2), s[i + 3] == UInt8(ascii: ":"), let offsetMinute = digits(i + 4, 2)
        else { return false }
        return offsetHour <= 23 && offsetMinute <= 59
    }

    // MARK: - email

    static func isEmail(_ s: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let at = s.lastIndex(of: UInt8(ascii: "@")), at > 0, at < s.count - 1 else { return false }
        let local = UnsafeBufferPointer(rebasing: s[0..<at])
        let domain = UnsafeBufferPointer(rebasing: s[(at + 1)...])
        guard local.count <= 64, domain.count <= 255 else { return false }
        return isLocalPart(local) && isMailDomain(domain)
    }

    private static func isLocalPart(_ s: UnsafeBufferPointer<UInt8>) -> Bool {
        if s.first == UInt8(ascii: "\"") {
            // quoted-string: printable ASCII, with \" and \\ (any printable) escaped.
            guard s.count >= 2, s.last == UInt8(ascii: "\"") else { return false }
            var i = 1
            while i < s.count - 1 {
                let c = s[i]
                if c == UInt8(ascii: "\\") {
                    guard i + 1 < s.count - 1, (0x20...0x7E).contains(s[i + 1]) else { return false }
                    i += 2
                    continue
                }
                guard (0x20...0x7E).contains(c), c != UInt8(ascii: "\"") else { return false }
                i += 1
            }
            return true
        }
        // dot-atom: atext runs separated by single dots.
        var previousWasDot = true
        for c in s {
            if c == UInt8(ascii: ".") {
                if previousWasDot { return false }
                previousWasDot = true
            } else {
                guard isAtext(c) else { return false }
                previousWasDot = false
            }
        }
        return !previousWasDot
    }

    private static func isAtext(_ c: UInt8) -> Bool {
        if isAlnum(c) { return true }
        switch c {
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
            UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "/"), UInt8(ascii: "="), UInt8(ascii: "?"),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "{"), UInt8(ascii: "|"), UInt8(ascii: "}"),
            UInt8(ascii: "~"):
            return true
        default: return false
        }
    }

    private static func isMailDomain(_ s: UnsafeBufferPointer<UInt8>) -> Bool {
        if s.first == UInt8(ascii: "[") {
            guard s.count >= 3, s.last == UInt8(ascii: "]") else { return false }
            let inner = UnsafeBufferPointer(rebasing: s[1..<(s.count - 1)])
            let prefix = Array("IPv6:".utf8)
            if inner.count > prefix.count, zip(inner, prefix).allSatisfy({ $0 | 0x20 == $1 | 0x20 }) {
                return isIPv6(UnsafeBufferPointer(rebasing: inner[prefix.count...]))
            }
            return isIPv4(inner)
        }
        // A host name: LDH labels of 1...63 bytes, not starting or ending with '-'.
        var labelLength = 0
        var previous: UInt8 = UInt8(ascii: ".")
        for c in s {
            if c == UInt8(ascii: ".") {
                guard labelLength > 0, previous != UInt8(ascii: "-") else { return false }
                labelLength = 0
            } else {
                guard isAlnum(c) || (c == UInt8(ascii: "-") && labelLength > 0) else { return false }
                labelLength += 1
                guard labelLength <= 63 else { return false }
            }
            previous = c
        }
        return labelLength > 0 && previous != UInt8(ascii: "-")
    }

    // MARK: - uri

    static func isURI(_ s: UnsafeBufferPointer<UInt8>) -> Bool {
        // scheme ":" hier-part [ "?" query ] [ "#" fragment ]
        guard let first = s.first, isAlpha(first), let colon = s.firstIndex(of: UInt8(ascii: ":")) else { return false }
        for c in s[1..<colon] {
            guard isAlnum(c) || c == UInt8(ascii: "+") || c == UInt8(ascii: "-") || c == UInt8(ascii: ".") else { return false }
        }
        var i = colon + 1
        let end = s.count
        if i + 1 < end, s[i] == UInt8(ascii: "/"), s[i + 1] == UInt8(ascii: "/") {
            i += 2
            var authorityEnd = i
            while authorityEnd < end, s[authorityEnd] != UInt8(ascii: "/"), s[authorityEnd] != UInt8(ascii: "?"),
                s[authorityEnd] != UInt8(ascii: "#")
            {
                authorityEnd += 1
            }
            guard isAuthority(UnsafeBufferPointer(rebasing: s[i..<authorityEnd])) else { return false }
            i = authorityEnd
        }
        // path (any of the forms: pchar and "/"), then query, then fragment.
        var part = 0  // 0 path, 1 query, 2 fragment
        while i < end {
            let c = s[i]
            if c == UInt8(ascii: "%") {
                guard i + 2 < end, isHex(s[i + 1]), isHex(s[i + 2]) else { return false }
                i += 3
                continue
            }
            if c == UInt8(ascii: "?"), part == 0 {
                part = 1
            } else if c == UInt8(ascii: "#"), part < 2 {
                part = 2
            } else if !(isPchar(c) || c == UInt8(ascii: "/") || (part > 0 && c == UInt8(ascii: "?"))) {
                return false
            }
            i += 1
        }
        return true
    }

    /// `[ userinfo "@" ] host [ ":" port ]`
    private static func isAuthority(_ s: UnsafeBufferPointer<UInt8>) -> Bool {
        var hostStart = 0
        if let at = s.firstIndex(of: UInt8(ascii: "@")) {
            guard isEscapedRun(UnsafeBufferPointer(rebasing: s[0..<at]), allowing: { isUnreserved($0) || isSubDelim($0) || $0 == UInt8(ascii: ":") })
            else { return false }
            hostStart = at + 1
        }
        var i = hostStart
        if i < s.count, s[i] == UInt8(ascii: "[") {
            guard let close = s[i...].firstIndex(of: UInt8(ascii: "]")) else { return false }
            let literal = UnsafeBufferPointer(rebasing: s[(i + 1)..<close])
            guard isIPv6(literal) || isIPvFuture(literal) else { return false }
            i = close + 1
        } else {
            while i < s.count, s[i] != UInt8(ascii: ":") { i += 1 }
            guard isEscapedRun(UnsafeBufferPointer(rebasing: s[hostStart..<i]), allowing: { isUnreserved($0) || isSubDelim($0) })
            else { return false }
        }
        guard i < s.count else { return true }
        guard s[i] == UInt8(ascii: ":") else { return false }
        return s[(i + 1)...].allSatisfy(isDigit)
    }

    private static func isEscapedRun(_ s: UnsafeBufferPointer<UInt8>, allowing allowed: (UInt8) -> Bool) -> Bool {
        var i = 0
        while i < s.count {
            if s[i] == UInt8(ascii: "%") {
                guard i + 2 < s.count, isHex(s[i + 1]), isHex(s[i + 2]) else { return false }
                i += 3
            } else {
                guard allowed(s[i]) else { return false }
                i += 1
            }
        }
        return true
    }

    /// `"v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )`
    private static func isIPvFuture(_ s: UnsafeBufferPointer<UInt8>) -> Bool {
        guard s.count >= 4, s[0] | 0x20 == UInt8(ascii: "v"), let dot = s.firstIndex(of: UInt8(ascii: ".")), dot > 1, dot < s.count - 1
        else { return false }
        return s[1..<dot].allSatisfy(isHex) && s[(dot + 1)...].allSatisfy { isUnreserved($0) || isSubDelim($0) || $0 == UInt8(ascii: ":") }
    }

    static func isIPv4(_ s: UnsafeBufferPointer<UInt8>) -> Bool {
        let parts = s.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        return parts.allSatisfy { part in
            guard (1...3).contains(part.count), part.allSatisfy(isDigit) else { return false }
            // dec-octet: no leading zeros, at most 255.
            guard part.count == 1 || part.first != UInt8(ascii: "0") else { return false }
            return part.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) } <= 255
        }
    }

    /// RFC 3986 `IPv6address`: eight 16-bit pieces, at most one `::`, optionally ending in an
    /// IPv4 address that counts as two pieces.
    static func isIPv6(_ s: UnsafeBufferPointer<UInt8>) -> Bool {
        guard s.count >= 2 else { return false }
        var pieces = 0
        var sawDoubleColon = false
        var i = 0
        if s[0] == UInt8(ascii: ":") {
            guard s[1] == UInt8(ascii: ":") else { return false }
            sawDoubleColon = true
            i = 2
            if i == s.count { return true }
        }
        while i < s.count {
            // One piece: 1...4 hex digits, or (last) an IPv4 address.
            var j = i
            while j < s.count, isHex(s[j]) { j += 1 }
            if j < s.count, s[j] == UInt8(ascii: ".") {
                guard isIPv4(UnsafeBufferPointer(rebasing: s[i...])) else { return false }
                pieces += 2
                i = s.count
                break
            }
            guard (1...4).contains(j - i) else { return false }
            pieces += 1
            i = j
            guard i < s.count else { break }
            guard s[i] == UInt8(ascii: ":") else { return false }
            i += 1
            if i < s.count, s[i] == UInt8(ascii: ":") {
                guard !sawDoubleColon else { return false }
                sawDoubleColon = true
                i += 1
                if i == s.count { break }
            } else if i == s.count {
                return false  // a trailing single ':'
            }
        }
        return sawDoubleColon ? pieces <= 7 : pieces == 8
    }

    // MARK: - Character classes (ASCII)

    private static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
    private static func isAlpha(_ c: UInt8) -> Bool { (c | 0x20) >= UInt8(ascii: "a") && (c | 0x20) <= UInt8(ascii: "z") }
    private static func isAlnum(_ c: UInt8) -> Bool { isAlpha(c) || isDigit(c) }
    private static func isHex(_ c: UInt8) -> Bool { isDigit(c) || ((c | 0x20) >= UInt8(ascii: "a") && (c | 0x20) <= UInt8(ascii: "f")) }
    private static func isUnreserved(_ c: UInt8) -> Bool {
        isAlnum(c) || c == UInt8(ascii: "-") || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "~")
    }
    private static func isSubDelim(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"),
            UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="):
            return true
        default: return false
        }
    }
    /// pchar without the percent escape (handled by the caller).
    private static func isPchar(_ c: UInt8) -> Bool {
        isUnreserved(c) || isSubDelim(c) || c == UInt8(ascii: ":") || c == UInt8(ascii: "@")
    }
}
