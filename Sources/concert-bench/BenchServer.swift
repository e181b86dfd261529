import AsyncHTTPClient
import ConcertService
import Foundation
import GRDB
import Logging
import PostgresNIO

enum Backend: String, CaseIterable, Sendable {
    case sqlite, postgres
}

/// A fresh database for one scenario (a new SQLite file or a new PostgreSQL schema), which the
/// benchmark reads directly to check invariants.
final class ScenarioDatabase: Sendable {
    let backend: Backend
    /// What the server needs to find it: SQLITE_PATH or DATABASE_URL.
    let serverEnvironment: [String: String]
    private let postgres: PostgresClient?
    private let runner: Task<Void, Never>?
    private let sqlitePath: String?
    /// The PostgreSQL schema this scenario created, dropped by `close()`.
    private let schema: String?

    static func create(_ backend: Backend, directory: URL, postgresURL: String?, name: String) async throws -> ScenarioDatabase {
        switch backend {
        case .sqlite:
            let path = directory.appendingPathComponent("\(name).sqlite").path
            return try ScenarioDatabase(
                backend: backend, environment: ["SQLITE_PATH": path], sqlitePath: path, postgresURL: nil, schema: nil)
        case .postgres:
            guard let postgresURL else { throw BenchError("PostgreSQL needs --database-url (or BENCH_DATABASE_URL).") }
            let schema = "bench_\(name.replacingOccurrences(of: "-", with: "_"))_\(UInt32.random(in: 0...UInt32.max))"
            let admin = try ScenarioDatabase(backend: backend, environment: [:], sqlitePath: nil, postgresURL: postgresURL, schema: nil)
            try await admin.execute("CREATE SCHEMA \(schema)")
            await admin.close()
            let url = postgresURL + (postgresURL.contains("?") ? "&" : "?") + "options=-c%20search_path%3D\(schema)"
            return try ScenarioDatabase(
                backend: backend, environment: ["DATABASE_URL": url], sqlitePath: nil, postgresURL: url, schema: schema)
        }
    }

    private init(backend: Backend, environment: [String: String], sqlitePath: String?, postgresURL: String?, schema: String?) throws {
        self.backend = backend
        self.schema = schema
        serverEnvironment = environment
        self.sqlitePath = sqlitePath
        if let postgresURL {
            var configuration = try PostgresURL.parse(postgresURL)
            configuration.options.maximumConnections = 64
            let client = PostgresClient(configuration: configuration)
            postgres = client
            runner = Task { await client.run() }
        } else {
            postgres = nil
            runner = nil
        }
    }

    /// Drops the scenario's PostgreSQL schema (call it once the server has stopped) and disconnects.
    func close() async {
        if let schema {
            do { try await execute("DROP SCHEMA \(schema) CASCADE") } catch { print("  could not drop schema \(schema): \(error)") }
        }
        runner?.cancel()
        _ = await runner?.value
    }

    private func execute(_ sql: String) async throws {
        _ = try await postgres?.query(PostgresQuery(unsafeSQL: sql)).collect()
    }

    /// The first column of the first row, as an integer.
    func int(_ sql: String) async throws -> Int {
        if let postgres {
            for try await row in try await postgres.query(PostgresQuery(unsafeSQL: sql)) {
                return try row.decode(Int.self)
            }
            return 0
        }
        guard let sqlitePath else { return 0 }
        return try await DatabaseQueue(path: sqlitePath, configuration: Self.sqliteConfiguration).read {
            try Int.fetchOne($0, sql: sql) ?? 0
        }
    }

    /// The service's own storage on this database, as the server opens it.
    func openStorage(poolSize: Int) throws -> any StorageBackend {
        if let sqlitePath { return try SQLiteStorage(path: sqlitePath) }
        return try PostgresStorage(
            url: serverEnvironment["DATABASE_URL"]!, poolSize: poolSize, lockTimeout: .seconds(10), logger: Self.storageLogger)
    }

    static var storageLogger: Logger {
        var logger = Logger(label: "bench-storage")
        logger.logLevel = .warning
        return logger
    }

    static var sqliteConfiguration: Configuration {
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        return configuration
    }
}

/// A release `concert serve` process on 127.0.0.1 for one scenario.
final class BenchServer: Sendable {
    let port: Int
    let baseURL: String
    private let process: Process
    private let log: URL

    init(database: ScenarioDatabase, secret: String, environment: [String: String], directory: URL, name: String) throws {
        let binary = Bundle.main.executableURL!.deletingLastPathComponent().appendingPathComponent("concert")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw BenchError("\(binary.path) is missing: build both with `swift build -c release`.")
        }
        port = try freePort()
        baseURL = "http://127.0.0.1:\(port)"
        log = directory.appendingPathComponent("\(name).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process = Process()
        process.executableURL = binary
        process.arguments = ["serve"]
        process.environment = ProcessInfo.processInfo.environment
            .merging(["LOG_LEVEL": "warning", "AUTH_JWT_SECRET": secret, "HOST": "127.0.0.1", "PORT": "\(port)"]) { $1 }
            .merging(database.serverEnvironment) { $1 }
            .merging(environment) { $1 }
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    func waitUntilReady(_ load: LoadGenerator) async throws {
        for _ in 0..<600 {
            if let reply = try? await load.send(HTTPClientRequest(url: baseURL + "/ready")), reply.status == 200 { return }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchError("the server never became ready; its log: \(log.path)")
    }

    /// The process's peak resident memory (VmHWM), in bytes.
    var peakResidentBytes: Int { statusField("VmHWM") }
    var residentBytes: Int { statusField("VmRSS") }
    var processIdentifier: Int32 { process.processIdentifier }

    private func statusField(_ name: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }),
            let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
        else { return 0 }
        return kilobytes * 1024
    }

    /// The last lines of the server's log, where anything it complained about is.
    var logTail: String {
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(10).joined(separator: "\n")
    }

    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A port nobody listens on now: the kernel picks it for a socket that is closed at once.
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw BenchError("no free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}
