import Hummingbird

/// Answers the event-stream routes in a child task of the connection's task.
///
/// A task keeps the memory of the deepest async call stack it has reached until it ends, and a
/// connection's task lives as long as its connection, which for a stream is as long as the
/// stream. The middleware chain and a stream handler's reads go far deeper than the loop that
/// then writes the events; run in a child task, they give their memory back when the answer
/// is ready, and each open stream keeps only what its loop needs.
struct StreamsInChildTask<Inner: HTTPResponder>: HTTPResponder where Inner.Context: Sendable {
    let inner: Inner

    func respond(to request: Request, context: Inner.Context) async throws -> Response {
        guard StreamController.isStream(path: request.uri.path) else {
            return try await inner.respond(to: request, context: context)
        }
        return try await withThrowingTaskGroup(of: Response.self) { group in
            group.addTask { try await inner.respond(to: request, context: context) }
            // The group holds exactly the one task just added.
            return try await group.next()!
        }
    }
}
