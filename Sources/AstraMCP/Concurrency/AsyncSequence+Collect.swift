extension AsyncSequence {
    /// Every element, in order. For small, bounded results only.
    public func collectAll() async throws -> [Element] {
        var elements: [Element] = []
        for try await element in self { elements.append(element) }
        return elements
    }
}
