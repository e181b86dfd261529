import Foundation
import Hummingbird
import Prometheus

/// Liveness, readiness, metrics and the API document.
struct OperationsController {
    let system: ConcertSystem
    let metrics: PrometheusCollectorRegistry

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("health", use: health)
        router.get("ready", use: ready)
        router.get("metrics", use: prometheus)
        router.get("openapi.yaml", use: openAPI)
    }

    struct Status: ResponseEncodable {
        var status: String
    }

    @Sendable func health(_ request: Request, context: AppRequestContext) -> Status {
        Status(status: "ok")
    }

    /// Ready while the database answers, as the monitor finds it every half second, so a
    /// balancer polling this sees an outage (one that refuses connections) and its end within about 2 s.
    @Sendable func ready(_ request: Request, context: AppRequestContext) async throws -> Status {
        guard system.availability.isReachable else {
            throw ServiceError(.serviceUnavailable, "The database is not reachable.")
        }
        return Status(status: "ready")
    }

    @Sendable func prometheus(_ request: Request, context: AppRequestContext) -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: metrics.emitToBuffer())))
    }

    @Sendable func openAPI(_ request: Request, context: AppRequestContext) throws -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: try OpenAPIDocument.yaml)))
    }
}

/// `openapi.yaml`, shipped as a resource of this module and kept true by a test.
enum OpenAPIDocument {
    static var yaml: Data {
        get throws {
            guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml") else {
                throw ServiceError(.internalError, "openapi.yaml is missing from the build.")
            }
            return try Data(contentsOf: url)
        }
    }
}
