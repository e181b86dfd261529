import Foundation
import Testing

@testable import ConcertService

extension ServerProcessTests {
    /// The web app in a real browser: `Tests/browser/web_app.py` drives headless Chromium (Debian's
    /// `chromium` and `chromium-driver`) with Selenium against a `concert serve` in demo mode. It
    /// saves its screenshots where `BROWSER_SCREENSHOTS` says (the ones in docs/ come from it).
    @Suite struct BrowserTests {
        static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("browser/web_app.py")
        static let available: Bool = {
            let check = Process()
            check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            check.arguments = ["python3", "-c", "import selenium"]
            check.standardError = FileHandle.nullDevice
            guard (try? check.run()) != nil else { return false }
            check.waitUntilExit()
            return check.terminationStatus == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium")
                && FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver")
        }()
        static let required = ProcessInfo.processInfo.environment["REQUIRE_BROWSER_TESTS"] == "1"

        @Test func theBrowserIsInstalledWhenRequired() {
            #expect(!Self.required || Self.available, "REQUIRE_BROWSER_TESTS=1 but chromium, chromedriver or selenium is missing")
        }

        @Test(.enabled(if: available, "needs chromium, chromium-driver and selenium"))
        func aFanBuysAWatcherSeesItLiveAndTheOrganiserSeesTheSale() async throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("concert-browser-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let server = try ServerProcesses(count: 1, environment: [
                "SQLITE_PATH": directory.appendingPathComponent("browser.sqlite").path, "AUTH_JWT_SECRET": TestService.secret,
                "DEMO_SIGN_IN": "1", "QUEUE_TICK_MS": "200", "LOG_LEVEL": "warning",
            ])
            let client = SaleClient(ports: server.ports)
            do {
                try await server.waitUntilReady(client)
                // A room whose sale started, and one schedule of 20 seats in two grades.
                let created = try await client.send(
                    .post, "/v1/admin/performances", user: 1, admin: true,
                    body: #"{"title": "Browser Night", "performer": "The Headless", "sale": {"active_per_seat": 0}}"#)
                let performance = try #require(created.int("id"))
                let schedule = try await client.send(
                    .post, "/v1/admin/performances/\(performance)/schedules", user: 1, admin: true,
                    body: scheduleOnSaleNow(seats: [("S", 8, 12000), ("A", 12, 6000)], startsIn: 30 * 86400))
                let scheduleID = try #require(schedule.int("id"))

                let screenshots = ProcessInfo.processInfo.environment["BROWSER_SCREENSHOTS"] ?? directory.path
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                process.arguments = ["python3", Self.script.path, "http://127.0.0.1:\(server.ports[0])", "\(performance)", "\(scheduleID)", screenshots]
                let output = directory.appendingPathComponent("browser.log")
                _ = FileManager.default.createFile(atPath: output.path, contents: nil)
                let handle = try FileHandle(forWritingTo: output)
                process.standardOutput = handle
                process.standardError = handle
                try process.run()
                await exit(of: process)
                let report = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
                print(report.split(separator: "\n").filter { $0.hasPrefix("ok: ") || $0.hasPrefix("all ") }.joined(separator: "\n"))
                #expect(process.terminationStatus == 0, "the browser test failed:\n\(report.suffix(6000))\nserver log:\n\(server.log(0).suffix(3000))")
            } catch {
                await server.stop()
                try await client.shutdown()
                throw error
            }
            await server.stop()
            try await client.shutdown()
        }
    }
}
