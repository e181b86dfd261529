import ArgumentParser
import ConcertService
import Foundation
import Logging
import NIOCore

@main
struct Concert: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The concert reservation service.",
        subcommands: [Serve.self, Migrate.self, SeedDemo.self, Token.self, Check.self])
}

/// Configuration from the environment, with flags that override it.
struct ConfigurationOptions: ParsableArguments {
    @Option(help: "Address to listen on (HOST).") var host: String?
    @Option(help: "Port to listen on (PORT).") var port: Int?
    @Option(help: "SQLite database file (SQLITE_PATH).") var sqlitePath: String?

    func load() throws -> AppConfiguration {
        var config = try AppConfiguration(environment: ProcessInfo.processInfo.environment)
        config.host = host ?? config.host
        config.port = port ?? config.port
        config.sqlitePath = sqlitePath ?? config.sqlitePath
        return config
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HTTP service (migrates the database first).")

    @OptionGroup var options: ConfigurationOptions
    @Flag(help: "Fill the demo catalogue first if the catalogue is empty, and turn on demo sign-in (DEMO_SIGN_IN).")
    var seedDemo = false

    func run() async throws {
        var config = try options.load()
        if seedDemo { config.demoSignIn = true }
        let logger = Logger.service(level: config.logLevel)
        let system = try await ConcertSystem.open(config, logger: logger)
        let app = try await buildApplication(system, config: config, logger: logger) { [seedDemo] in
            if seedDemo, try await system.storage.catalogueIsEmpty() {
                let listings = try await DemoCatalogue.seed(into: system.catalogue, now: system.clock.now)
                logger.info("Seeded the demo catalogue", metadata: ["performances": "\(listings.count)"])
            }
        }
        do {
            try await app.runService()
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw StartupError(
                "Port \(config.port) on \(config.host) is already in use: stop the program using it, or choose another with --port or PORT.")
        }
    }
}

/// A reason the service cannot start, said plainly (exit status 1, no usage text).
struct StartupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify the stored data's integrity: seats sold once, counts, wallets against their ledgers, queue order.",
        discussion: "Prints one line per check and exits with status 1 if any rule is broken. Safe on a live database: it only reads.")

    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        let config = try options.load()
        let storage = try ConcertSystem.openStorage(config, logger: Logger.service(level: config.logLevel))
        let report = try await storage.whileRunning(logger: Logger.service(level: config.logLevel)) {
            try await IntegrityService(store: storage).check()
        }
        for finding in report.findings {
            let verdict = finding.violations == 0 ? "ok" : "VIOLATED by \(finding.violations) row(s)"
            print("\(finding.check.name): \(verdict) - \(finding.check.rule)")
        }
        print(report.isClean ? "All \(report.findings.count) checks passed." : "Integrity violations found.")
        if !report.isClean { throw ExitCode(1) }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create or upgrade the database schema.")

    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        let config = try options.load()
        let logger = Logger.service(level: config.logLevel)
        try await ConcertSystem.openStorage(config, logger: logger).whileRunning(logger: logger) {}
        // Not the URL itself: it may hold a password.
        print("Database schema is up to date: \(config.databaseURL == nil ? config.sqlitePath : "PostgreSQL (DATABASE_URL)")")
    }
}

struct SeedDemo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Fill the catalogue with demo performances on sale now.")

    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        let config = try options.load()
        let logger = Logger.service(level: config.logLevel)
        let system = try await ConcertSystem.open(config, logger: logger)
        let listings = try await system.storage.whileRunning(logger: logger) {
            try await DemoCatalogue.seed(into: system.catalogue, now: system.clock.now)
        }
        for listing in listings {
            let schedules = listing.schedules.map { "schedule \($0.id) (\($0.totalSeats) seats)" }.joined(separator: ", ")
            print("performance \(listing.performance.id) \"\(listing.performance.title)\": \(schedules)")
        }
    }
}

struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mint a user or admin credential for local use, signed with AUTH_JWT_SECRET.")

    @Option(help: "The user id (the credential's sub).") var user: Int64?
    @Flag(help: "Mint an admin credential (scope admin).") var admin = false
    @Option(help: "Hours until the credential expires.") var hours = 24

    func validate() throws {
        guard user != nil || admin else { throw ValidationError("Give --user ID, --admin, or both.") }
        guard (user ?? 0) >= 0 else { throw ValidationError("--user must not be negative.") }
        guard (1...24 * 365).contains(hours) else { throw ValidationError("--hours must be from 1 to 8760.") }
    }

    func run() async throws {
        let config = try AppConfiguration(environment: ProcessInfo.processInfo.environment)
        guard let secret = config.authSecret else {
            throw ValidationError("Set AUTH_JWT_SECRET to the key the server uses.")
        }
        let credentials = await Credentials(secret: secret)
        print(try await credentials.mint(userID: user ?? 0, admin: admin, validFor: .seconds(hours * 3600), now: SystemClock().now))
    }
}
