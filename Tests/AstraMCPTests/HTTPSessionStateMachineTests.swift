import Testing

@testable import AstraMCP

@Suite("Streamable HTTP session state")
struct HTTPSessionStateMachineTests {
    @Test("the first initialize answer names the session; a late echo cannot bring back an expired one")
    func initialize() {
        var session = HTTPSessionStateMachine()
        #expect(session.sessionID == nil)
        session.initializeAnswered(sessionID: "a")
        session.negotiated(protocolVersion: "2025-11-25")
        #expect(session.state == .active(id: "a"))
        #expect(session.protocolVersion == "2025-11-25")
        #expect(session.sessionExpired("a") == .renew)
        session.renewed(sessionID: "b")
        session.initializeAnswered(sessionID: "a")
        #expect(session.sessionID == "b")
    }

    @Test("a 404 renews the session once: the first request renews, the others wait, later ones just resend")
    func renewOnce() {
        var session = HTTPSessionStateMachine()
        session.initializeAnswered(sessionID: "a")
        #expect(session.sessionExpired("a") == .renew)
        #expect(session.state == .renewing(expired: "a"))
        #expect(session.sessionID == "a", "requests carry the old id until the new one is known")
        #expect(session.sessionExpired("a") == .wait)
        session.renewed(sessionID: "b")
        #expect(session.sessionExpired("a") == .alreadyRenewed, "a request that carried the old id")
        #expect(session.state == .active(id: "b"))
    }

    @Test("a failed renewal keeps the old id, so the next 404 tries again; a closed session renews nothing")
    func failedRenewal() {
        var session = HTTPSessionStateMachine()
        session.initializeAnswered(sessionID: "a")
        _ = session.sessionExpired("a")
        session.renewalFailed()
        #expect(session.state == .active(id: "a"))
        #expect(session.sessionExpired("a") == .renew)
        session.close()
        #expect(session.sessionExpired("a") == .alreadyRenewed)
        #expect(session.sessionID == nil)
    }
}
