import Foundation
import Testing
import Yams

@testable import ConcertService

@Suite struct OpenAPIDocumentTests {
    /// The document lists exactly the routes the router serves, with the same methods.
    @Test(arguments: Backend.all)
    func documentMatchesTheRouter(_ backend: Backend) async throws {
        let service = try await TestService(backend)
        let document = try #require(try Yams.load(yaml: String(decoding: OpenAPIDocument.yaml, as: UTF8.self)) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        let methods = Set(["get", "post", "put", "patch", "delete"])
        let documented = Set(paths.flatMap { path, operations in
            operations.keys.filter(methods.contains).map { "\($0.uppercased()) \(path)" }
        })
        let served = Set(buildRouter(service.system).routes.map { route in
            let path = route.path.description
                .split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
            return "\(route.method.rawValue) /\(path)"
        })
        #expect(documented == served)
    }

    /// Every error code the document's examples use exists.
    @Test func everyErrorCodeHasAStatus() {
        for code in ErrorCode.allCases {
            #expect((400..<600).contains(code.status.code))
        }
    }
}
