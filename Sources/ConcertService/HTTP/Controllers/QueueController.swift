import Foundation
import Hummingbird

/// Join the waiting queue and poll it.
struct QueueController {
    let authentication: Authentication
    let clock: any WallClock
    let queue: QueueService

    func addRoutes(to router: Router<AppRequestContext>) {
        // Polling needs only the queue token; joining needs a credential.
        router.get("v1/queue/tokens/current", use: poll)
        router.group("v1/queue/tokens")
            .add(middleware: authentication)
            .post(use: join)
    }

    @Sendable func join(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<QueueTokenResponse> {
        let pass = try await queue.join(userID: try context.caller.userID, now: clock.now)
        return EditedResponse(status: .created, response: QueueTokenResponse(pass))
    }

    /// The queue token alone identifies the entry: polling is the hottest path, so it
    /// verifies one HMAC and reads memory, nothing else.
    @Sendable func poll(_ request: Request, context: AppRequestContext) async throws -> QueueTokenResponse {
        QueueTokenResponse(try queue.poll(token: request.queueToken, now: clock.now))
    }
}
