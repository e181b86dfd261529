import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Who the client is, for limits by address: the connection's peer, or, when the peer is one
/// of our trusted load balancers, the address they name in `X-Forwarded-For`.
enum ClientAddress {
    /// The rightmost address of `X-Forwarded-For` that is not a trusted proxy: every proxy
    /// appends the address it received from, and only ours can be believed.
    static func resolve(peer: String?, forwardedFor: [String], trustedProxies: Set<String>) -> String {
        guard let peer, trustedProxies.contains(peer) else { return peer ?? "unknown" }
        let hops = forwardedFor.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return hops.last { !trustedProxies.contains($0) } ?? hops.first ?? peer
    }
}

extension HTTPField.Name {
    static let xForwardedFor = Self("X-Forwarded-For")!
}

/// Limits requests that carry neither a credential nor a queue token by client address. The
/// others are limited per user or per queue entry by the services; the operational endpoints
/// never are, so monitoring keeps working under a flood.
struct AnonymousLimitMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    static let exempt: Set<String> = ["/health", "/ready", "/metrics"]

    let limits: RateLimits
    let clock: any WallClock
    let trustedProxies: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.headers[.authorization] == nil, request.headers[.queueToken] == nil, !Self.exempt.contains(request.uri.path) {
            let address = ClientAddress.resolve(
                peer: context.peerAddress?.ipAddress, forwardedFor: request.headers[values: .xForwardedFor], trustedProxies: trustedProxies)
            try limits.checkAnonymous(address: address, at: clock.now)
        }
        return try await next(request, context)
    }
}
