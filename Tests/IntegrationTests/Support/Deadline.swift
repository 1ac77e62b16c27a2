/// A test waited longer than it allows: a bug must fail the test, not hang it.
struct DeadlineExceeded: Error, CustomStringConvertible {
    var description: String
}

/// Runs `body`, failing with ``DeadlineExceeded`` after `limit`.
func withDeadline<T: Sendable>(
    _ limit: Duration,
    _ what: String,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw DeadlineExceeded(description: "gave up waiting for \(what) after \(limit)")
        }
        return value
    }
}

/// Polls `condition` every 50 ms until it holds; fails after `limit`.
func eventually(
    _ limit: Duration = .seconds(30),
    _ what: String,
    _ condition: @escaping @Sendable () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + limit
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw DeadlineExceeded(description: "gave up waiting for \(what) after \(limit)") }
        try await Task.sleep(for: .milliseconds(50))
    }
}
