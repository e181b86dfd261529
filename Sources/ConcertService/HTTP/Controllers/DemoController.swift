import Foundation
import Hummingbird

/// Demo sign-in: with demo mode on (`concert serve --seed-demo` or `DEMO_SIGN_IN=1`), anyone
/// may get a short-lived credential for any user, so that a newcomer can click through the web
/// app without an identity provider. Without demo mode the route does not exist (404).
struct DemoController {
    /// How long a demo credential stays valid.
    static let lifetime: Duration = .seconds(3600)

    let credentials: Credentials
    let clock: any WallClock

    func addRoutes(to router: Router<AppRequestContext>) {
        router.post("v1/demo/sign-in", use: signIn)
    }

    struct SignInBody: Decodable {
        var userID: Int64
        var admin: Bool?

        enum CodingKeys: String, CodingKey {
            case userID = "user_id", admin
        }

        init(from decoder: any Decoder) throws {
            let body = try decoder.container(keyedBy: CodingKeys.self)
            userID = try body.decode(Int64.self, forKey: .userID)
            admin = try body.ifSent(Bool.self, forKey: .admin)
        }
    }

    struct SignInResponse: ResponseEncodable {
        var credential: String
        var userId: Int64
        var admin: Bool
        var expiresAt: Date

        enum CodingKeys: String, CodingKey {
            case credential, userId = "user_id", admin, expiresAt = "expires_at"
        }
    }

    @Sendable func signIn(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<SignInResponse> {
        let input = try await ReceivedBody.read(request, context: context).decode(SignInBody.self)
        guard input.userID > 0 else { throw ServiceError(.invalidBody, "user_id must be a positive integer.") }
        let now = clock.now
        let admin = input.admin ?? false
        let credential = try await credentials.mint(userID: input.userID, admin: admin, validFor: Self.lifetime, now: now)
        return EditedResponse(
            status: .created,
            response: SignInResponse(credential: credential, userId: input.userID, admin: admin, expiresAt: now.addingTimeInterval(Self.lifetime.seconds)))
    }
}
