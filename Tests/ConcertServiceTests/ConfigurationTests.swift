import Testing

@testable import ConcertService

@Suite struct ConfigurationTests {
    @Test func theListenBacklogHoldsACrowdsConnections() throws {
        // Hummingbird's default of 256 dropped a third of a 1,000-connection burst's handshakes.
        #expect(AppConfiguration().listenBacklog == 4096)
        #expect(try AppConfiguration(environment: ["LISTEN_BACKLOG": "512"]).listenBacklog == 512)
    }

    @Test(arguments: ["0", "65536", "many"])
    func anUnusableBacklogIsRefusedByName(_ value: String) {
        #expect {
            try AppConfiguration(environment: ["LISTEN_BACKLOG": value])
        } throws: { error in
            "\(error)".contains("LISTEN_BACKLOG must be an integer from 1 to 65535")
        }
    }

    /// The seat streams' heartbeats wait for these reads, so they may not be rarer than every 5 s.
    @Test func theSeatFeedRefreshIsBoundedByTheHeartbeat() throws {
        #expect(try AppConfiguration(environment: ["SEAT_FEED_REFRESH_MS": "250"]).seatFeedRefresh == .milliseconds(250))
        for value in ["9", "5001", "often"] {
            #expect {
                try AppConfiguration(environment: ["SEAT_FEED_REFRESH_MS": value])
            } throws: { error in
                "\(error)".contains("SEAT_FEED_REFRESH_MS must be an integer from 10 to 5000")
            }
        }
    }
}
