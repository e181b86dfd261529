import AsyncHTTPClient
import Foundation
import Histogram
import NIOCore
import Synchronization

/// One HTTP answer, body collected.
struct Reply: Sendable {
    var status: Int
    var body: ByteBuffer

    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any] ?? [:]
    }
    var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
}

/// What a load run saw: requests, statuses, latencies (in microseconds) and wall time. A request
/// without an answer counts in `requests` but in no status.
struct LoadResult: Sendable {
    var requests = 0
    var statuses: [Int: Int] = [:]
    var latency = Histogram<UInt64>(highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: .three)
    var elapsed: Duration = .zero

    /// The workers' tallies, once all of them have finished.
    init(_ tallies: [WorkerTally], elapsed: Duration) {
        for tally in tallies {
            requests += tally.latencies.count
            statuses.merge(tally.statuses, uniquingKeysWith: +)
            for microseconds in tally.latencies { _ = latency.record(microseconds) }
        }
        self.elapsed = elapsed
    }

    var perSecond: Double { Double(requests) / max(elapsed.seconds, 1e-9) }
    /// Latency at a percentile, in milliseconds.
    func milliseconds(at percentile: Double) -> Double { Double(latency.valueAtPercentile(percentile)) / 1000 }
    func count(_ status: Int) -> Int { statuses[status] ?? 0 }
}

/// What one worker saw. Plain arrays while the load runs: a histogram per worker (large to
/// allocate and then merge) cost more CPU than the requests of a 1,000-worker burst, CPU the
/// server was waiting for.
struct WorkerTally: Sendable {
    var statuses: [Int: Int] = [:]
    var transportErrors = 0
    var latencies: [UInt64] = []

    mutating func record(_ status: Int?, after duration: Duration) {
        if let status { statuses[status, default: 0] += 1 } else { transportErrors += 1 }
        latencies.append(UInt64(max(duration.microseconds, 1)))
    }
}

/// A closed-loop load generator on AsyncHTTPClient: `concurrency` workers, each with one
/// request in flight on its own keep-alive connection, until a count or a time limit is reached.
final class LoadGenerator: Sendable {
    let http: HTTPClient

    init(maxConnections: Int) {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(120), concurrentHTTP1ConnectionsPerHostSoftLimit: maxConnections)
        // The connect timeout also bounds the wait for a pooled connection: 10,000 flash-sale users share 1,000.
        configuration.timeout = .init(connect: .seconds(120), read: .seconds(60))
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func shutdown() async throws { try await http.shutdown() }

    func send(_ request: HTTPClientRequest) async throws -> Reply {
        let response = try await http.execute(request, timeout: .seconds(60))
        return Reply(status: Int(response.status.code), body: try await response.body.collect(upTo: 1 << 26))
    }

    /// Sends `request(i)` for i = 0, 1, … from `concurrency` workers until `count` requests
    /// were sent, `duration` has passed or `going` says stop. `check` sees every reply (for
    /// setup and invariants).
    func run(
        concurrency: Int, count: Int = .max, duration: Duration = .seconds(900), while going: @escaping @Sendable () -> Bool = { true },
        request: @escaping @Sendable (Int) async throws -> HTTPClientRequest,
        check: (@Sendable (Int, Reply) async throws -> Void)? = nil
    ) async throws -> LoadResult {
        let next = Ticket(from: 0)
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + duration
        let tallies = try await withThrowingTaskGroup(of: WorkerTally.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    var result = WorkerTally()
                    while clock.now < deadline, going() {
                        let index = next.take()
                        guard index < count else { break }
                        let built = try await request(index)
                        let sent = clock.now
                        do {
                            let reply = try await self.send(built)
                            result.record(reply.status, after: clock.now - sent)
                            try await check?(index, reply)
                        } catch let error as HTTPClientError {
                            result.record(nil, after: clock.now - sent)
                            if result.transportErrors == 1 { print("  transport error: \(error)") }
                        }
                    }
                    return result
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        return LoadResult(tallies, elapsed: clock.now - start)
    }
}

/// Hands out 0, 1, 2, … to concurrent workers, each number once.
final class Ticket: Sendable {
    private let next: Atomic<Int>
    init(from first: Int) { next = Atomic(first) }
    func take() -> Int { next.wrappingAdd(1, ordering: .relaxed).oldValue }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    var microseconds: Int64 { components.seconds * 1_000_000 + components.attoseconds / 1_000_000_000_000 }
}
