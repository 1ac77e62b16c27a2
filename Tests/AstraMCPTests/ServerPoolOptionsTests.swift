import Testing

@testable import AstraMCP

@Suite("Server pool options")
struct ServerPoolOptionsTests {
    @Test("\"sessions\" is optional and must be an integer from 1 to 64")
    func parsesSessions() throws {
        #expect(try ServerPoolOptions.parse(json: #"{"command": "x"}"#).sessions == nil)
        #expect(try ServerPoolOptions.parse(json: #"{"sessions": 1}"#).sessions == 1)
        #expect(try ServerPoolOptions.parse(json: #"{"sessions": 64}"#).sessions == 64)
        for bad in ["0", "65", "true", "false", "2.5", "\"3\"", "null", "[]"] {
            #expect(throws: ConfigurationError.self, "sessions = \(bad)") { try ServerPoolOptions.parse(json: "{\"sessions\": \(bad)}") }
        }
    }
}
