import Testing

@testable import AstraMCP

@Suite("MetricLabels: the label cap")
struct MetricLabelsTests {
    @Test("the first `cap` server/tool pairs are labelled; later tools of a labelled server are `other`")
    func pairCap() {
        var labels = MetricLabels(cap: 2)
        #expect(labels.pair(server: "a", tool: "x") == .init(server: "a", tool: "x"))
        #expect(labels.pair(server: "a", tool: "y") == .init(server: "a", tool: "y"))
        #expect(labels.pair(server: "a", tool: "z") == .init(server: "a", tool: "other"))
        #expect(labels.pair(server: "b", tool: "x") == .init(server: "b", tool: "other"))
        // Pairs already labelled keep their label.
        #expect(labels.pair(server: "a", tool: "x") == .init(server: "a", tool: "x"))
    }

    @Test("servers past the cap are `other`, and so are all their tools")
    func serverCap() {
        var labels = MetricLabels(cap: 2)
        #expect(labels.server("a") == "a")
        #expect(labels.server("b") == "b")
        #expect(labels.server("c") == "other")
        #expect(labels.pair(server: "c", tool: "x") == .init(server: "other", tool: "other"))
        #expect(labels.server("a") == "a")
    }

    @Test("a long name is cut, and the cut name is what counts against the cap")
    func clipped() {
        var labels = MetricLabels(cap: 1)
        let long = String(repeating: "t", count: 500)
        let pair = labels.pair(server: "s", tool: long)
        #expect(pair.tool.count == MetricLabels.maxLength)
        #expect(labels.pair(server: "s", tool: long + "more") == pair)
    }
}
