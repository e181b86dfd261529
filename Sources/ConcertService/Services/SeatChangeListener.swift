import ServiceLifecycle

/// Hands the seat changes that other instances announce to this instance's seat feeds, from
/// start-up until graceful shutdown.
struct SeatChangeListener: Service {
    let news: any SeatChangeNews
    let feeds: SeatFeeds
    let clock: any WallClock

    func run() async {
        await cancelWhenGracefulShutdown {
            await news.listen(
                listening: { [feeds, clock] in try? await feeds.refresh(now: clock.now) },
                heard: { [feeds, clock] scheduleID in feeds.heard(scheduleID, now: { clock.now }) })
        }
    }
}
