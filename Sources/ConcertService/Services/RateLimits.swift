import Foundation

/// How much one user, one queue entry or one client address may send, per instance. The
/// defaults are far above what a person does in an on-sale (a few joins, holds and payments, a
/// poll every second or two) and far below what a script looping on the API sends.
public struct RateLimitSettings: Sendable, Equatable {
    /// Joins, holds, payments and wallet charges per user.
    public var writesPerMinute = 60
    /// Polls per queue token.
    public var pollsPerMinute = 300
    /// Requests with neither a credential nor a queue token, per client address. Generous:
    /// many fans share one address behind a carrier's or a campus's NAT.
    public var anonymousPerMinute = 1200

    public init() {}

    /// No limits at all (unit tests of other rules).
    public static let off: RateLimitSettings = {
        var settings = RateLimitSettings()
        settings.writesPerMinute = 0
        settings.pollsPerMinute = 0
        settings.anonymousPerMinute = 0
        return settings
    }()
}

/// The rate limits in force, each answering `429 TOO_MANY_REQUESTS` with `Retry-After`.
public struct RateLimits: Sendable {
    private let writes: RateLimiter<Int64>
    private let polls: RateLimiter<Int64>
    private let anonymous: RateLimiter<String>

    public init(_ settings: RateLimitSettings) {
        writes = RateLimiter(perMinute: settings.writesPerMinute)
        polls = RateLimiter(perMinute: settings.pollsPerMinute)
        anonymous = RateLimiter(perMinute: settings.anonymousPerMinute)
    }

    func checkWrite(userID: Int64, at now: Date) throws {
        if let wait = writes.admit(userID, at: now) {
            throw Self.refusal("You have sent \(writes.perMinute) joins, holds, payments or charges in the last minute", wait)
        }
    }

    /// Keyed by the entry's seq, which a genuine queue token names.
    func checkPoll(seq: Int64, at now: Date) throws {
        if let wait = polls.admit(seq, at: now) {
            throw Self.refusal("This queue token has polled \(polls.perMinute) times in the last minute", wait)
        }
    }

    func checkAnonymous(address: String, at now: Date) throws {
        if let wait = anonymous.admit(address, at: now) {
            throw Self.refusal("Your address has sent \(anonymous.perMinute) requests without a credential in the last minute", wait)
        }
    }

    private static func refusal(_ what: String, _ seconds: Int) -> ServiceError {
        ServiceError(.tooManyRequests, "\(what); retry in \(seconds) s.", retryAfter: seconds)
    }
}
