/// A parser for `text/event-stream`, following the HTML standard's event-stream rules:
/// lines end in CRLF, LF or CR (a CRLF split across two reads is one line end); `:` starts a
/// comment; `data` lines join with LF; `event`, `id` and `retry` set the event's type, the last
/// event id and the reconnection time; an empty line dispatches the event, and an event with no
/// data is dropped. A leading byte-order mark is skipped.
///
/// Memory is bounded while streaming, not after: a line longer than `maxLineBytes` or an
/// event's data beyond `maxEventBytes` throws as soon as it is seen.
struct SSEParser {
    /// One dispatched event.
    struct Event: Sendable, Equatable {
        /// `message` unless an `event` field said otherwise.
        var type: String
        var data: String
        /// The last event id as of this event (what `Last-Event-ID` should carry on reconnect).
        var lastEventID: String
    }

    /// The stream broke a size limit.
    struct TooLarge: Error, Equatable, CustomStringConvertible {
        var limit: Int
        var what: String
        var description: String { "event stream \(what) exceeds \(limit) bytes" }
    }

    let maxLineBytes: Int
    let maxEventBytes: Int

    /// The id of the last event completed (by its empty line), kept across events: what
    /// `Last-Event-ID` carries on reconnect. An `id` of an event cut off before its end does not
    /// count, or a resumed stream would skip that event.
    private(set) var lastEventID = ""
    /// The last `id` field read, committed to `lastEventID` when its event completes.
    private var eventIDBuffer = ""
    /// The reconnection time the server asked for with `retry`, in milliseconds.
    private(set) var retryMilliseconds: Int?

    private var line: [UInt8] = []
    private var data: [UInt8] = []
    private var hasData = false
    private var eventType: [UInt8] = []
    private var afterCR = false
    private var firstLine = true

    init(maxLineBytes: Int = 1 << 20, maxEventBytes: Int = 16 << 20) {
        self.maxLineBytes = maxLineBytes
        self.maxEventBytes = maxEventBytes
    }

    /// Parses the next bytes; returns the events they complete.
    mutating func feed<Bytes: Sequence<UInt8>>(_ bytes: Bytes) throws(TooLarge) -> [Event] {
        let chunk = Array(bytes)
        var events: [Event] = []
        var start = 0
        // Lines are found with one scan for CR or LF and copied in slices, not byte by byte.
        while start < chunk.count {
            if afterCR {
                afterCR = false
                if chunk[start] == 0x0A {  // the LF of a CRLF split between reads
                    start += 1
                    continue
                }
            }
            guard let end = chunk[start...].firstIndex(where: { $0 == 0x0A || $0 == 0x0D }) else {
                guard line.count + (chunk.count - start) <= maxLineBytes else { throw TooLarge(limit: maxLineBytes, what: "line") }
                line.append(contentsOf: chunk[start...])
                break
            }
            guard line.count + (end - start) <= maxLineBytes else { throw TooLarge(limit: maxLineBytes, what: "line") }
            line.append(contentsOf: chunk[start..<end])
            if chunk[end] == 0x0D {
                if end + 1 < chunk.count {
                    start = chunk[end + 1] == 0x0A ? end + 2 : end + 1
                } else {
                    afterCR = true
                    start = end + 1
                }
            } else {
                start = end + 1
            }
            if let event = try endLine() { events.append(event) }
        }
        return events
    }

    /// The stream ended: an event not closed by an empty line is discarded, as the standard says
    /// (with its `id`).
    mutating func finish() {
        line.removeAll()
        afterCR = false
        eventIDBuffer = lastEventID
        resetEvent()
    }

    private mutating func endLine() throws(TooLarge) -> Event? {
        defer { line.removeAll(keepingCapacity: line.count <= 4096) }
        var field = line[...]
        if firstLine {
            firstLine = false
            if field.starts(with: [0xEF, 0xBB, 0xBF]) { field = field.dropFirst(3) }  // byte-order mark
        }
        if field.isEmpty { return dispatch() }
        if field.first == UInt8(ascii: ":") { return nil }  // comment
        let name: ArraySlice<UInt8>
        var value: ArraySlice<UInt8>
        if let colon = field.firstIndex(of: UInt8(ascii: ":")) {
            name = field[..<colon]
            value = field[(colon + 1)...]
            if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
        } else {
            name = field
            value = []
        }
        switch String(decoding: name, as: UTF8.self) {
        case "data":
            guard data.count + value.count + 1 <= maxEventBytes else { throw TooLarge(limit: maxEventBytes, what: "event") }
            if hasData { data.append(0x0A) }
            data.append(contentsOf: value)
            hasData = true
        case "event":
            eventType = Array(value)
        case "id":
            if !value.contains(0) { eventIDBuffer = String(decoding: value, as: UTF8.self) }
        case "retry":
            if !value.isEmpty, value.allSatisfy({ (0x30...0x39).contains($0) }), let milliseconds = Int(String(decoding: value, as: UTF8.self)) {
                retryMilliseconds = milliseconds
            }
        default:
            break  // unknown fields are ignored
        }
        return nil
    }

    private mutating func dispatch() -> Event? {
        defer { resetEvent() }
        lastEventID = eventIDBuffer
        guard hasData else { return nil }
        return Event(
            type: eventType.isEmpty ? "message" : String(decoding: eventType, as: UTF8.self),
            data: String(decoding: data, as: UTF8.self),
            lastEventID: lastEventID)
    }

    private mutating func resetEvent() {
        data.removeAll(keepingCapacity: data.count <= 1 << 16)
        hasData = false
        eventType.removeAll()
    }
}
