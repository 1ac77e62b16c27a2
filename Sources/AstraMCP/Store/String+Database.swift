extension String {
    /// The text as PostgreSQL can store it in a `text` column: NUL, which it refuses (and which
    /// a server's stderr or error text may contain), becomes U+FFFD. Swift strings are always
    /// valid Unicode, so nothing else needs repair.
    var sanitizedForDatabase: String {
        guard utf8.contains(0) else { return self }
        return String(String.UnicodeScalarView(unicodeScalars.map { $0 == "\0" ? "\u{FFFD}" : $0 }))
    }
}
