import Foundation
import Hummingbird

/// Flows 1 and 2: join the waiting queue and poll it.
struct QueueController {
    let auth: Authenticator
    let queue: QueueService

    func addRoutes(to router: Router<AppRequestContext>) {
        router.group("v1/queue/tokens")
            .post(use: join)
            .get("current", use: poll)
    }

    @Sendable func join(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<QueueTokenResponse> {
        let identity = try await auth.user(request)
        let pass = try await queue.join(userID: identity.userID)
        return EditedResponse(status: .created, response: QueueTokenResponse(pass))
    }

    /// The queue token alone identifies the entry: polling is the hottest path, so it
    /// verifies one HMAC and reads memory, nothing else.
    @Sendable func poll(_ request: Request, context: AppRequestContext) async throws -> QueueTokenResponse {
        QueueTokenResponse(try queue.poll(token: request.queueToken))
    }
}
