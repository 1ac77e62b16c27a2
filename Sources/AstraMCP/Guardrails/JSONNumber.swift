/// A JSON number for comparison: exact between integers and doubles, with no rounding of
/// an Int64 through Double.
enum JSONNumber: Sendable, CustomStringConvertible {
    case integer(Int64)
    case double(Double)

    init?(_ value: JSONValue) {
        switch value {
        case .integer(let value): self = .integer(value)
        case .double(let value): self = .double(value)
        default: return nil
        }
    }

    var description: String {
        switch self {
        case .integer(let value): String(value)
        case .double(let value): Int64(exactly: value).map(String.init) ?? String(value)
        }
    }

    var isPositive: Bool {
        switch self {
        case .integer(let value): value > 0
        case .double(let value): value > 0
        }
    }

    /// -1, 0 or 1 as `self` is below, equal to or above `other`.
    func compare(to other: JSONNumber) -> Int {
        switch (self, other) {
        case (.integer(let a), .integer(let b)): a < b ? -1 : (a > b ? 1 : 0)
        case (.double(let a), .double(let b)): a < b ? -1 : (a > b ? 1 : 0)
        case (.double(let a), .integer(let b)): Self.compare(a, b)
        case (.integer(let a), .double(let b)): -Self.compare(b, a)
        }
    }

    private static func compare(_ d: Double, _ i: Int64) -> Int {
        // 2^63 is exact in Double; beyond either end of Int64 the answer needs no conversion.
        if d >= 9_223_372_036_854_775_808.0 { return 1 }
        if d < -9_223_372_036_854_775_808.0 { return -1 }
        let floor = Int64(d.rounded(.down))
        if floor < i { return -1 }
        if floor > i { return 1 }
        return d > Double(floor) ? 1 : 0
    }

    /// Whether `self` is an integral multiple of `divisor` (> 0).
    ///
    /// Decimal-exact where it can be: a double is taken as the shortest decimal that
    /// round-trips it (what the JSON most likely said), so `19.99` is a multiple of `0.01`
    /// and `0.3` of `0.1` — which binary floating point division gets wrong. Only when the
    /// scaled decimals overflow Int64 does it fall back to `x / d` being integral.
    func isMultiple(of divisor: JSONNumber) -> Bool {
        if case .integer(let x) = self, case .integer(let d) = divisor { return x % d == 0 }
        if let (xs, xe) = decimal, let (ds, de) = divisor.decimal {
            if xs == 0 { return true }
            let exponent = min(xe, de)
            if let x = Self.scale(xs, by: xe - exponent), let d = Self.scale(ds, by: de - exponent), d != 0 {
                return x % d == 0
            }
        }
        let quotient = double / divisor.double
        return quotient.isFinite && quotient == quotient.rounded(.towardZero)
    }

    private var double: Double {
        switch self {
        case .integer(let value): Double(value)
        case .double(let value): value
        }
    }

    /// (significand, exponent) with value = significand × 10^exponent, trailing zeros
    /// removed; nil when the significand does not fit.
    private var decimal: (Int64, Int)? {
        var significand: Int64
        var exponent = 0
        switch self {
        case .integer(let value): significand = value
        case .double(let value):
            guard value.isFinite else { return nil }
            // Swift prints the shortest round-tripping digits: "19.99", "1e-05", "1.5e+20".
            var digits: Int64 = 0
            var fractionDigits = 0
            var inFraction = false
            var negative = false
            var text = Substring(String(value))
            if text.first == "-" {
                negative = true
                text = text.dropFirst()
            }
            var exponentPart: Substring = ""
            if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
                exponentPart = text[text.index(after: e)...]
                text = text[..<e]
            }
            for character in text.utf8 {
                if character == UInt8(ascii: ".") {
                    inFraction = true
                    continue
                }
                let (shifted, o1) = digits.multipliedReportingOverflow(by: 10)
                let (next, o2) = shifted.addingReportingOverflow(Int64(character &- UInt8(ascii: "0")))
                guard !o1, !o2 else { return nil }
                digits = next
                if inFraction { fractionDigits += 1 }
            }
            guard let written = Int(exponentPart.hasPrefix("+") ? exponentPart.dropFirst() : exponentPart) ?? (exponentPart.isEmpty ? 0 : nil)
            else { return nil }
            significand = negative ? -digits : digits
            exponent = written - fractionDigits
        }
        while significand != 0, significand % 10 == 0 {
            significand /= 10
            exponent += 1
        }
        return (significand, exponent)
    }

    private static func scale(_ value: Int64, by power: Int) -> Int64? {
        guard power <= 18 else { return value == 0 ? 0 : nil }
        var result = value
        for _ in 0..<power {
            let (next, overflow) = result.multipliedReportingOverflow(by: 10)
            if overflow { return nil }
            result = next
        }
        return result
    }
}
