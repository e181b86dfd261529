import Foundation
import Testing

@testable import ConcertService

extension ServerProcessTests {
    /// The API document is true of the running service: schemathesis (from PyPI) generates a few
    /// thousand requests from `openapi.yaml`, valid and invalid, sends them to a real
    /// `concert serve` with a user's and then an admin's credential, and checks every answer
    /// against the document (statuses, headers, bodies, content types, 405 with `Allow`, bad input
    /// refused, valid input accepted). `.ci/run` installs it and sets REQUIRE_API_CONFORMANCE=1.
    @Suite struct APIConformanceTests {
        static let schemathesis: URL? = ProcessInfo.processInfo.environment["PATH"]?.split(separator: ":")
            .map { URL(fileURLWithPath: String($0)).appendingPathComponent("st") }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
        static let required = ProcessInfo.processInfo.environment["REQUIRE_API_CONFORMANCE"] == "1"

        /// Business refusals of well-formed requests (no such seat, not enough money, a spent
        /// token, a broken rule that depends on stored data) are not findings; a 400 for a request
        /// the document calls valid is.
        static let configuration = """
            [checks.positive_data_acceptance]
            expected-statuses = ["2xx", "401", "402", "403", "404", "409", "410", "422", "429"]
            """

        @Test func schemathesisIsInstalledWhenRequired() {
            #expect(!Self.required || Self.schemathesis != nil, "REQUIRE_API_CONFORMANCE=1 but schemathesis (st) is not on PATH")
        }

        @Test(.enabled(if: schemathesis != nil, "needs schemathesis: pip install schemathesis"))
        func everyAnswerMatchesTheDocument() async throws {
            let st = try #require(Self.schemathesis)
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("concert-st-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let config = directory.appendingPathComponent("schemathesis.toml")
            try Self.configuration.write(to: config, atomically: true, encoding: .utf8)
            let server = try ServerProcesses(count: 1, environment: [
                "SQLITE_PATH": directory.appendingPathComponent("st.sqlite").path, "AUTH_JWT_SECRET": TestService.secret,
                "LOG_LEVEL": "warning", "DEMO_SIGN_IN": "1",
                // A generator sends far faster than any person: the limits stay, out of its way.
                "RATE_LIMIT_WRITES_PER_MIN": "1000000", "RATE_LIMIT_POLLS_PER_MIN": "1000000", "RATE_LIMIT_ANONYMOUS_PER_MIN": "10000000",
            ])
            let client = SaleClient(ports: server.ports)
            try await server.waitUntilReady(client)
            let credentials = await Credentials(secret: TestService.secret)
            for admin in [false, true] {
                let credential = try await credentials.mint(userID: admin ? 2 : 1, admin: admin, validFor: .seconds(3600), now: Date())
                let process = Process()
                process.executableURL = st
                // The stateful phase follows links it guesses from field names (a ledger entry's
                // null reservation_id used as a reservation id): not what the document says.
                process.arguments = [
                    "--config-file", config.path, "run", "http://127.0.0.1:\(server.ports[0])/openapi.yaml", "--checks", "all",
                    "--phases", "examples,coverage,fuzzing", "--max-examples", "150", "--seed", "20261204", "--workers", "1",
                    "--header", "Authorization: Bearer \(credential)",
                ]
                let output = directory.appendingPathComponent(admin ? "admin.log" : "user.log")
                _ = FileManager.default.createFile(atPath: output.path, contents: nil)
                let handle = try FileHandle(forWritingTo: output)
                process.standardOutput = handle
                process.standardError = handle
                process.environment = ProcessInfo.processInfo.environment.merging(["NO_COLOR": "1"]) { $1 }
                process.currentDirectoryURL = directory  // schemathesis keeps a cache in its working directory
                try process.run()
                await exit(of: process)
                let report = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
                let summary = report.split(separator: "\n").filter { $0.contains(" generated, ") }.joined()
                print("schemathesis with \(admin ? "an admin" : "a user") credential: \(summary.trimmingCharacters(in: .whitespaces))")
                #expect(process.terminationStatus == 0, "schemathesis found something:\n\(report.suffix(6000))")
            }
            await server.stop()
            try await client.shutdown()
        }
    }
}
