import Foundation
import Hummingbird

/// Join a performance's waiting room and poll the entry.
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

    struct JoinBody: Decodable {
        var performanceID: Int64

        enum CodingKeys: String, CodingKey {
            case performanceID = "performance_id"
        }
    }

    @Sendable func join(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<QueueTokenResponse> {
        let userID = try context.caller.userID
        let input = try await ReceivedBody.read(request, context: context).decode(JoinBody.self)
        guard input.performanceID > 0 else { throw ServiceError(.invalidBody, "performance_id must be a positive integer.") }
        let pass = try await queue.join(userID: userID, performanceID: input.performanceID, now: clock.now)
        return EditedResponse(status: .created, response: QueueTokenResponse(pass))
    }

    /// The queue token alone identifies the entry: polling is the hottest path, so it
    /// verifies one HMAC and reads memory, nothing else.
    @Sendable func poll(_ request: Request, context: AppRequestContext) async throws -> QueueTokenResponse {
        QueueTokenResponse(try queue.poll(token: request.queueToken, now: clock.now))
    }
}
