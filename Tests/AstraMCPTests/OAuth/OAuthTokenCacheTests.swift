import Testing

@testable import AstraMCP

@Suite("OAuth token cache")
struct OAuthTokenCacheTests {
    let start = ContinuousClock.now

    @Test("one fetch at a time; the token is used until expires_in less the margin, then refreshed")
    func refreshBeforeExpiry() {
        var cache = OAuthTokenCache()
        #expect(cache.tokenNeeded(now: start) == .fetch)
        #expect(cache.tokenNeeded(now: start) == .wait, "a second caller waits for the fetch")
        cache.fetched("t1", expiresIn: .seconds(100), requestedAt: start)
        // A fifth of 100 s is 20 s, under the 30 s cap: refreshed from 80 s on.
        #expect(cache.refreshMargin(lifetime: .seconds(100)) == .seconds(20))
        #expect(cache.tokenNeeded(now: start + .seconds(79)) == .use("t1"))
        #expect(cache.tokenNeeded(now: start + .seconds(80)) == .fetch)
        // While the refresh runs, the old token (not expired yet) serves the others.
        #expect(cache.tokenNeeded(now: start + .seconds(81)) == .use("t1"))
        #expect(cache.tokenNeeded(now: start + .seconds(100)) == .wait, "expired: wait for the new one")
        cache.fetched("t2", expiresIn: .seconds(3600), requestedAt: start + .seconds(80))
        #expect(cache.refreshMargin(lifetime: .seconds(3600)) == .seconds(30))
        #expect(cache.tokenNeeded(now: start + .seconds(80 + 3569)) == .use("t2"))
        #expect(cache.tokenNeeded(now: start + .seconds(80 + 3570)) == .fetch)
    }

    @Test("a short-lived token is still used for most of its life")
    func shortLived() {
        var cache = OAuthTokenCache()
        _ = cache.tokenNeeded(now: start)
        cache.fetched("t", expiresIn: .seconds(3), requestedAt: start)
        #expect(cache.tokenNeeded(now: start + .milliseconds(2399)) == .use("t"))
        #expect(cache.tokenNeeded(now: start + .milliseconds(2400)) == .fetch)
    }

    @Test("a token without expires_in is kept until the server refuses it")
    func noExpiry() {
        var cache = OAuthTokenCache()
        _ = cache.tokenNeeded(now: start)
        cache.fetched("t", expiresIn: nil, requestedAt: start)
        #expect(cache.tokenNeeded(now: start + .seconds(1_000_000)) == .use("t"))
        cache.rejected("other")
        #expect(cache.tokenNeeded(now: start) == .use("t"), "a refusal of another token changes nothing")
        cache.rejected("t")
        #expect(cache.tokenNeeded(now: start) == .fetch)
    }

    @Test("a failed refresh keeps the old token while it lasts; a failed first fetch leaves nothing")
    func failures() {
        var cache = OAuthTokenCache()
        _ = cache.tokenNeeded(now: start)
        cache.fetchFailed(now: start)
        #expect(cache.current == nil)
        #expect(cache.tokenNeeded(now: start) == .fetch)
        cache.fetched("t", expiresIn: .seconds(10), requestedAt: start)
        #expect(cache.tokenNeeded(now: start + .seconds(9)) == .fetch)
        cache.fetchFailed(now: start + .seconds(9))
        #expect(cache.current?.value == "t")
        // The next caller tries again at once, and the others keep using it meanwhile.
        #expect(cache.tokenNeeded(now: start + .milliseconds(9100)) == .fetch)
        #expect(cache.tokenNeeded(now: start + .milliseconds(9200)) == .use("t"))
        cache.fetchFailed(now: start + .seconds(11))
        #expect(cache.current == nil, "expired meanwhile")
    }

    @Test("a refusal during a refresh drops the stale token; invalidate drops any")
    func rejectedWhileFetching() {
        var cache = OAuthTokenCache()
        _ = cache.tokenNeeded(now: start)
        cache.fetched("t", expiresIn: .seconds(10), requestedAt: start)
        #expect(cache.tokenNeeded(now: start + .seconds(9)) == .fetch)
        cache.rejected("t")
        #expect(cache.tokenNeeded(now: start + .seconds(9)) == .wait)
        cache.fetched("u", expiresIn: .seconds(10), requestedAt: start + .seconds(9))
        cache.invalidate()
        #expect(cache.tokenNeeded(now: start + .seconds(9)) == .fetch)
    }
}
