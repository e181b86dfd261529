import Foundation
import Hummingbird

/// The web app: the fan's pages at `/`, the organiser's at `/admin`, and their scripts and
/// styles under `/app/`. The files ship as resources of this module and are read into memory
/// once, so serving them touches no disk; nothing is fetched from another site.
struct WebController {
    struct File {
        var bytes: ByteBuffer
        var contentType: String
    }

    let files: [String: File]

    /// Reads the web app from the module's resources.
    init() throws {
        guard let root = Bundle.module.url(forResource: "web", withExtension: nil) else {
            throw ServiceError(.internalError, "The web app is missing from the build.")
        }
        var files: [String: File] = [:]
        let paths = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)?.compactMap { $0 as? URL } ?? []
        for url in paths where !url.hasDirectoryPath {
            let relative = String(url.standardizedFileURL.path.dropFirst(root.standardizedFileURL.path.count + 1))
            files[relative] = File(bytes: ByteBuffer(bytes: try Data(contentsOf: url)), contentType: Self.contentType(of: url.pathExtension))
        }
        self.files = files
    }

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/") { _, _ in try serve("index.html") }
        router.get("admin") { _, _ in try serve("admin.html") }
        router.get("app/:file") { _, context in try serve("app/" + (context.parameters.get("file") ?? "")) }
    }

    private func serve(_ path: String) throws -> Response {
        guard let file = files[path] else { throw ServiceError(.routeNotFound, "There is no such page.") }
        return Response(
            status: .ok,
            headers: [
                .contentType: file.contentType, .cacheControl: "no-cache",
                // Only this site's own scripts, styles and API: no inline script, nothing fetched elsewhere.
                .contentSecurityPolicy: "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
                .xContentTypeOptions: "nosniff",
            ],
            body: .init(byteBuffer: file.bytes))
    }

    private static func contentType(of pathExtension: String) -> String {
        switch pathExtension {
        case "html": "text/html; charset=utf-8"
        case "js": "text/javascript; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "png": "image/png"
        case "svg": "image/svg+xml"
        default: "application/octet-stream"
        }
    }
}
