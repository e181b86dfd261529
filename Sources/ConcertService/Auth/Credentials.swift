import Foundation
import JWTKit

/// Who is calling, from a verified credential: a JWT signed with the configured secret.
public struct Identity: Sendable, Equatable {
    public var userID: Int64
    public var isAdmin: Bool
}

/// The claims of a user or admin credential as an identity provider issues them. `exp` is
/// checked by `Credentials` against the time it is given, after the signature.
struct CredentialClaims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim
    var scope: String?

    func verify(using algorithm: some JWTAlgorithm) throws {}
}

/// Verifies (and, for local use, mints) HS256 credentials signed with `AUTH_JWT_SECRET`.
/// The service never signs users in; an identity provider would issue these.
public struct Credentials: Sendable {
    private let keys: JWTKeyCollection
    // A user sends the same credential with every request of a sale (join, hold, pay):
    // verifying it once spares the JSON decoding and the signature check, which all requests
    // otherwise queue for on the key collection's actor. Two generations of 90,000 cover a
    // large sale's active users; with fewer, a sale bigger than the cache verified every
    // request again (docs/performance.md).
    private let verified = RecentlyVerified<Identity>(capacity: 90_000)

    public init(secret: String) async {
        keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
    }

    /// The identity behind a credential; `exp` is required and honoured, `sub` is the
    /// numeric user id.
    public func identity(fromToken token: String, now: Date) async throws -> Identity {
        let key = TokenKey(token)
        if let identity = verified.value(of: key, at: now) { return identity }
        let claims: CredentialClaims
        do {
            claims = try await keys.verify(token, as: CredentialClaims.self)
        } catch let error as JWTError where error.errorType == .signatureVerificationFailed {
            throw ServiceError(
                .unauthenticated, "The credential's signature does not match: it was not signed with this service's key.",
                reason: "signature")
        } catch {
            throw ServiceError(.unauthenticated, "The credential is not a well-formed JWT with sub and exp.", reason: "malformed")
        }
        guard now < claims.exp.value else {
            throw ServiceError(
                .unauthenticated, "The credential expired at \(Date.ISO8601FormatStyle().format(claims.exp.value)); get a new one.",
                reason: "expired")
        }
        let subject = claims.sub.value
        guard !subject.isEmpty, subject.allSatisfy(\.isASCII), subject.allSatisfy(\.isNumber), let userID = Int64(subject) else {
            throw ServiceError(.unauthenticated, "The credential's subject is not a user id.", reason: "malformed")
        }
        let identity = Identity(userID: userID, isAdmin: claims.scope == "admin")
        verified.remember(key, as: identity, until: claims.exp.value)
        return identity
    }

    /// Mints a credential (the `concert token` command and tests).
    public func mint(userID: Int64, admin: Bool, validFor lifetime: Duration, now: Date) async throws -> String {
        let claims = CredentialClaims(
            sub: SubjectClaim(value: String(userID)),
            exp: ExpirationClaim(value: now.addingTimeInterval(lifetime.seconds)),
            scope: admin ? "admin" : nil)
        return try await keys.sign(claims)
    }
}
