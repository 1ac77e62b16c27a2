import Foundation

/// Faults a test injects into a real daemon process, to see the watchdog act on them. No real
/// failure wedges the engine on purpose: every step it takes has a bounded wait (statements are
/// abandoned after `statement_timeout` + 15 s, retries back off at most 5 s), so a wedge is a
/// bug, and a test has to make one.
///
/// `ASTRA_FAULT_INJECTION=wedge-claim-loop`: once the claim loop has claimed an execution, it
/// stays in that step until the daemon is killed.
enum FaultInjection {
    static let wedgesClaimLoop = ProcessInfo.processInfo.environment["ASTRA_FAULT_INJECTION"] == "wedge-claim-loop"
}
