import Foundation
import Hummingbird

/// Verifies the bearer credential of every request to the routes behind it and puts the
/// caller's identity in the request context. A request without a valid credential is answered
/// 401 (403 on an admin route without an admin credential) before its handler reads anything.
struct Authentication: RouterMiddleware {
    enum Requirement: Sendable {
        case user, admin
    }

    let credentials: Credentials
    let clock: any WallClock
    let requirement: Requirement

    func handle(
        _ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        guard let token = request.bearerToken else {
            throw ServiceError(.unauthenticated, "Send a credential: Authorization: Bearer <token>.", reason: "missing")
        }
        let identity = try await credentials.identity(fromToken: token, now: clock.now)
        if requirement == .admin, !identity.isAdmin {
            throw ServiceError(.forbidden, "This endpoint needs an admin credential.")
        }
        var context = context
        context.identity = identity
        return try await next(request, context)
    }
}

extension AppRequestContext {
    /// The caller, as `Authentication` verified them.
    var caller: Identity {
        get throws {
            guard let identity else {
                throw ServiceError(.internalError, "A route that needs a caller is not behind Authentication.")
            }
            return identity
        }
    }
}
