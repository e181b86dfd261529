import HTTPTypes
import Hummingbird

/// CORS for the origins the service is configured to trust (`CORS_ALLOWED_ORIGINS`), preflight
/// included, so that a web app served from another site can call the API. A request from any
/// other origin gets no CORS headers, and the browser keeps its answer from the page.
struct AllowedOriginsCORS<Context: RequestContext>: RouterMiddleware {
    let origins: Set<String>
    private let cors = CORSMiddleware<Context>(
        allowOrigin: .originBased,
        allowHeaders: [.accept, .authorization, .contentType, .origin, .queueToken, .idempotencyKey, .lastEventID],
        allowMethods: [.get, .post, .patch, .head, .options],
        exposedHeaders: ["Retry-After", "Idempotent-Replayed", "Location"],
        maxAge: .minutes(10))

    init(origins: [String]) {
        self.origins = Set(origins)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin], origins.contains(origin) else { return try await next(request, context) }
        return try await cors.handle(request, context: context, next: next)
    }
}

extension HTTPField.Name {
    static let lastEventID = Self("Last-Event-ID")!
}
