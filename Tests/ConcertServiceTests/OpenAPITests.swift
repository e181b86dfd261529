import Foundation
import Testing
import Yams

@testable import ConcertService

@Suite struct OpenAPIDocumentTests {
    static func document() throws -> [String: Any] {
        try #require(try Yams.load(yaml: String(decoding: OpenAPIDocument.yaml, as: UTF8.self)) as? [String: Any])
    }

    /// The document lists exactly the routes the router serves (demo mode's included), with the
    /// same methods; the web app's pages are not the API.
    @Test(arguments: Backend.all)
    func documentMatchesTheRouter(_ backend: Backend) async throws {
        let service = try await TestService(backend) { $0.demoSignIn = true }
        let webApp: Set = ["GET /", "GET /admin", "GET /app/{file}"]
        let document = try Self.document()
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        let methods = Set(["get", "post", "put", "patch", "delete"])
        let documented = Set(paths.flatMap { path, operations in
            operations.keys.filter(methods.contains).map { "\($0.uppercased()) \(path)" }
        })
        let served = Set(try buildRouter(service.system, config: service.config).routes.map { route in
            let path = route.path.description
                .split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
            return "\(route.method.rawValue) /\(path)"
        })
        #expect(documented == served.subtracting(webApp))
        #expect(served.isSuperset(of: webApp))
    }

    /// The routes answered in a child task as streams are exactly those the document says
    /// answer with an event stream.
    @Test func streamRoutesAreTheDocumentsEventStreams() throws {
        let document = try Self.document()
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        let eventStreams = Set(paths.compactMap { path, operations -> String? in
            let ok = ((operations["get"] as? [String: Any])?["responses"] as? [String: Any])?["200"] as? [String: Any]
            return (ok?["content"] as? [String: Any])?["text/event-stream"] == nil ? nil : path
        })
        #expect(eventStreams.count == 2)
        #expect(Set(paths.keys.filter { StreamController.isStream(path: $0) }) == eventStreams)
    }

    /// The document's list of error codes is exactly the service's, so a client can rely on it.
    @Test func theDocumentListsEveryErrorCode() throws {
        let document = try Self.document()
        let schemas = try #require((document["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let error = try #require(((schemas["Error"] as? [String: Any])?["properties"] as? [String: Any])?["error"] as? [String: Any])
        let code = try #require((error["properties"] as? [String: Any])?["code"] as? [String: Any])
        let documented = try #require(code["enum"] as? [String])
        #expect(documented == ErrorCode.allCases.map(\.rawValue))
        #expect(Set(ErrorCode.allCases.map { $0.status.code }).isSubset(of: [400, 401, 402, 403, 404, 405, 409, 410, 413, 422, 429, 500, 503]))
    }
}
