import Foundation
import JWTKit

/// Who is calling, from a verified credential (SPEC section 6).
public struct Identity: Sendable, Equatable {
    public var userID: Int64
    public var isAdmin: Bool
}

/// The claims of a user or admin credential as an identity provider issues them.
struct CredentialClaims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim
    var scope: String?

    func verify(using algorithm: some JWTAlgorithm) throws {
        try exp.verifyNotExpired()
    }
}

/// Verifies (and, for local use, mints) HS256 credentials signed with `AUTH_JWT_SECRET`.
/// The service never signs users in; an identity provider would issue these.
public struct Credentials: Sendable {
    private let keys: JWTKeyCollection

    public init(secret: String) async {
        keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
    }

    /// The identity behind a credential; `exp` is required and honoured, `sub` is the
    /// numeric user id.
    public func identity(fromToken token: String) async throws -> Identity {
        let claims: CredentialClaims
        do {
            claims = try await keys.verify(token, as: CredentialClaims.self)
        } catch {
            throw ServiceError(.unauthenticated, "The credential is invalid or expired.")
        }
        let subject = claims.sub.value
        guard !subject.isEmpty, subject.allSatisfy(\.isASCII), subject.allSatisfy(\.isNumber), let userID = Int64(subject) else {
            throw ServiceError(.unauthenticated, "The credential's subject is not a user id.")
        }
        return Identity(userID: userID, isAdmin: claims.scope == "admin")
    }

    /// Mints a credential (the `concert token` command and tests).
    public func mint(userID: Int64, admin: Bool, validFor lifetime: Duration, now: Date = Date()) async throws -> String {
        let claims = CredentialClaims(
            sub: SubjectClaim(value: String(userID)),
            exp: ExpirationClaim(value: now.addingTimeInterval(lifetime.seconds)),
            scope: admin ? "admin" : nil)
        return try await keys.sign(claims)
    }
}
