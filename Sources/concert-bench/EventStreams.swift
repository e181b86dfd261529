import AsyncHTTPClient
import Foundation
import NIOCore

/// Clients of the service's event streams (Server-Sent Events), each stream on a connection
/// of its own, as browsers keep them.
final class EventStreamClients: Sendable {
    private let client: HTTPClient

    init(connections: Int) {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(120), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
        configuration.timeout = .init(connect: .seconds(30), read: .seconds(60))
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Follows one stream until its task is cancelled or the server closes it; `received` gets
    /// each event's name (nil for a comment, a heartbeat) and data while `reading` says so (once
    /// it says no, the rest is received and dropped unread, sparing the CPU the server shares).
    func follow(
        _ url: String, reading: @Sendable () -> Bool = { true }, received: @Sendable (_ name: String?, _ data: String) -> Void
    ) async throws {
        let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(900))
        guard response.status == .ok else { throw BenchError("a stream answered \(response.status)") }
        var pending = ""
        for try await chunk in response.body {
            guard reading() else { continue }
            pending += String(buffer: chunk)
            while let end = pending.range(of: "\n\n") {
                let block = pending[..<end.lowerBound]
                var name: String? = "message"
                var data = ""
                for line in block.split(separator: "\n") {
                    if line.hasPrefix(":") { name = nil }
                    if line.hasPrefix("event: ") { name = String(line.dropFirst(7)) }
                    if line.hasPrefix("data: ") { data += line.dropFirst(6) }
                }
                pending.removeSubrange(..<end.upperBound)
                received(name, data)
            }
        }
    }

    func shutdown() async throws {
        try await client.shutdown()
    }
}

/// The p-th percentile of `values` (sorted here), or 0 when there are none.
func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p / 100).rounded(.up)) - 1)]
}
