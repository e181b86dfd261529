import Hummingbird
import Synchronization

/// Which methods each path of the router serves, so that a request with a known path and
/// another method is answered `405 Method Not Allowed` with `Allow`, not 404. The router
/// itself only knows "no route".
final class AllowedMethods: Sendable {
    private let routes = Mutex<[(path: RouterPath, methods: [String])]>([])

    /// Reads the router's routes; call once every route is added.
    func learn(_ descriptions: [Router<AppRequestContext>.RouteDescription]) {
        var table: [(path: RouterPath, methods: [String])] = []
        for route in descriptions {
            if let index = table.firstIndex(where: { $0.path == route.path }) {
                table[index].methods.append(route.method.rawValue)
            } else {
                table.append((route.path, [route.method.rawValue]))
            }
        }
        routes.withLock { $0 = table }
    }

    /// The methods served at `path`, or nil if no route has that path.
    func methods(at path: String) -> [String]? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        return routes.withLock { routes in
            routes.first { route in
                route.path.count == segments.count && zip(route.path, segments).allSatisfy { $0 ~= $1 }
            }?.methods.sorted()
        }
    }
}
