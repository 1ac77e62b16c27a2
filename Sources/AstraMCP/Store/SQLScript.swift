/// Splits a SQL script into statements at top-level semicolons, respecting quotes,
/// dollar-quoted bodies (`$$ … $$`, `$fn$ … $fn$`) and comments — PostgreSQL's extended query
/// protocol runs one statement at a time.
enum SQLScript {
    static func statements(_ script: String) -> [String] {
        let characters = Array(script.unicodeScalars)
        var statements: [String] = []
        var current = String.UnicodeScalarView()
        var i = 0
        func flush() {
            let text = String(current).trimmingWhitespace()
            if !text.isEmpty && !isOnlyComments(text) { statements.append(text) }
            current = String.UnicodeScalarView()
        }
        while i < characters.count {
            let c = characters[i]
            let next: Unicode.Scalar? = i + 1 < characters.count ? characters[i + 1] : nil
            if c == "-" && next == "-" {
                while i < characters.count && characters[i] != "\n" { current.append(characters[i]); i += 1 }
                continue
            }
            if c == "/" && next == "*" {
                while i < characters.count && !(characters[i] == "*" && i + 1 < characters.count && characters[i + 1] == "/") {
                    current.append(characters[i]); i += 1
                }
                if i < characters.count { current.append("*"); current.append("/"); i += 2 }
                continue
            }
            if c == "'" || c == "\"" {
                current.append(c); i += 1
                while i < characters.count {
                    current.append(characters[i])
                    if characters[i] == c { i += 1; break }
                    i += 1
                }
                continue
            }
            if c == "$", let tagEnd = dollarTagEnd(characters, from: i) {
                let tag = characters[i...tagEnd]
                for s in tag { current.append(s) }
                i = tagEnd + 1
                while i < characters.count {
                    if characters[i] == "$", i + tag.count <= characters.count, characters[i..<(i + tag.count)].elementsEqual(tag) {
                        for s in tag { current.append(s) }
                        i += tag.count
                        break
                    }
                    current.append(characters[i]); i += 1
                }
                continue
            }
            if c == ";" {
                flush()
                i += 1
                continue
            }
            current.append(c)
            i += 1
        }
        flush()
        return statements
    }

    /// The index of the closing `$` of a dollar-quote tag starting at `start`, if it is one.
    private static func dollarTagEnd(_ characters: [Unicode.Scalar], from start: Int) -> Int? {
        var i = start + 1
        while i < characters.count {
            let c = characters[i]
            if c == "$" { return i }
            guard c == "_" || c.properties.isAlphabetic || (i > start + 1 && ("0"..."9").contains(c)) else { return nil }
            i += 1
        }
        return nil
    }

    private static func isOnlyComments(_ text: String) -> Bool {
        text.split(separator: "\n").allSatisfy { $0.trimmingWhitespace().isEmpty || $0.trimmingWhitespace().hasPrefix("--") }
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        var scalars = Substring(self).unicodeScalars[...]
        while let first = scalars.first, first.properties.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.properties.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
