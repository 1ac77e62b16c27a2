import PostgresNIO

/// Reads a row's columns in order, each decoded as its concrete type. Decoding a wide row as one
/// tuple goes through parameter packs, which look up generic metadata for every row: on the
/// claim's 21 columns that showed up in profiles. Column by column, each decode is specialised.
struct RowReader {
    /// The row had fewer columns than its statement reads.
    struct MissingColumn: Error, CustomStringConvertible {
        var index: Int
        var description: String { "the row has no column \(index)" }
    }

    private var cells: PostgresRow.Iterator
    private var index = 0

    init(_ row: PostgresRow) {
        cells = row.makeIterator()
    }

    /// The next column, as `T`.
    @inline(__always)
    mutating func next<T: PostgresDecodable>(_: T.Type = T.self) throws -> T {
        guard let cell = cells.next() else { throw MissingColumn(index: index) }
        index += 1
        return try cell.decode(T.self)
    }
}
