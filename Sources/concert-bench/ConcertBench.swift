import ArgumentParser
import Foundation

/// `concert-bench`: runs the seven load scenarios against release `concert serve` processes on
/// 127.0.0.1, on SQLite and on PostgreSQL, and prints figures with their same-run baselines.
@main
struct ConcertBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "concert-bench",
        abstract: "Benchmark the concert service on 127.0.0.1 (build first: swift build -c release).")

    enum Scenario: String, CaseIterable, ExpressibleByArgument {
        case pollStorm = "poll-storm", holds, hotSeat = "hot-seat", flashSale = "flash-sale", queueScale = "queue-scale", roomDraw = "room-draw"
        case streams
    }

    @Option(help: "PostgreSQL server for the postgres backend; each scenario gets a new schema (env BENCH_DATABASE_URL).")
    var databaseURL: String?
    @Option(parsing: .upToNextOption, help: "Backends to run: sqlite, postgres (default: both when a database URL is given).")
    var backends: [String] = []
    @Option(parsing: .upToNextOption, help: "Scenarios to run (default: all): \(Scenario.allCases.map(\.rawValue).joined(separator: ", ")).")
    var scenarios: [Scenario] = Scenario.allCases
    @Option(help: "Concurrent client connections of the throughput scenarios.") var concurrency = 64
    @Option(help: "Seconds of each timed run (poll storm and its health baseline).") var seconds = 10
    @Option(help: "Server's DATABASE_POOL_SIZE, and the PostgreSQL baseline's connections.") var poolSize = 16
    @Option(help: "Seats (and admitted users) of the hold-throughput scenario.") var holdSeats = 20_000
    @Option(help: "Users of the flash sale.") var flashUsers = 10_000
    @Option(help: "Seats of the flash sale.") var flashSeats = 2_000
    @Option(help: "Joins of the queue-scale scenario.") var queueJoins = 1_000_000
    @Option(help: "Pre-queue entries of the room-draw scenario, half of them in one room.") var drawEntries = 1_000_000
    @Option(help: "Rooms of the room-draw scenario.") var drawRooms = 100
    @Option(help: "Open queue streams of the streams scenario.") var queueStreams = 10_000
    @Option(help: "Seat-map subscribers of the streams scenario.") var seatStreams = 2_000
    @Option(help: "Where the figures are written as JSON.") var output = "bench-results.json"

    func run() async throws {
        let postgresURL = databaseURL ?? ProcessInfo.processInfo.environment["BENCH_DATABASE_URL"]
        let chosen = try backends.isEmpty
            ? (postgresURL == nil ? [.sqlite] : Backend.allCases)
            : backends.map { name in
                guard let backend = Backend(rawValue: name) else { throw ValidationError("unknown backend \(name)") }
                return backend
            }
        if chosen.contains(.postgres), postgresURL == nil { throw ValidationError("postgres needs --database-url or BENCH_DATABASE_URL") }
        if postgresURL == nil { print("PostgreSQL NOT benchmarked: no --database-url / BENCH_DATABASE_URL.") }

        let settings = BenchSettings(
            concurrency: concurrency, duration: .seconds(seconds), poolSize: poolSize, holdSeats: holdSeats,
            flashUsers: flashUsers, flashSeats: flashSeats, queueJoins: queueJoins,
            drawEntries: drawEntries, drawRooms: drawRooms, queueStreams: queueStreams, seatStreams: seatStreams)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("concert-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let report = Report()
        print("concert-bench on \(report.machine.cpu), \(report.machine.cores) cores; files and server logs in \(directory.path)")
        // The flash sale's 10,000 users share 1,000 connections (the hot seat's bursts go through wrk).
        let load = LoadGenerator(maxConnections: max(1_000, concurrency))
        do {
            for backend in chosen {
                let run = Scenarios(
                    backend: backend, settings: settings, postgresURL: postgresURL, directory: directory, report: report, load: load)
                for scenario in scenarios {
                    switch scenario {
                    case .pollStorm: try await run.pollStorm()
                    case .holds: try await run.holdThroughput()
                    case .hotSeat: try await run.hotSeat()
                    case .flashSale: try await run.flashSale()
                    case .queueScale: try await run.queueScale()
                    case .roomDraw: try await run.roomDraw()
                    case .streams: try await run.streams()
                    }
                }
            }
        } catch {
            try? await load.shutdown()
            throw BenchError(String(reflecting: error))
        }
        try await load.shutdown()
        print("\n" + report.table)
        try report.write(to: output)
        print("\nFigures written to \(output).")
        try? FileManager.default.removeItem(at: directory)
    }
}
