import Foundation
import Testing

@testable import ConcertService

@Suite struct SeatSelectionTests {
    @Test func sortsAndAcceptsUpToTheLimit() throws {
        let selection = try SeatSelection(scheduleID: 1, seatNumbers: [4, 2, 3], maxSeats: 4)
        #expect(selection.seatNumbers == [2, 3, 4])
    }

    @Test(arguments: [[], [1, 2, 3, 4, 5], [2, 2]])
    func rejectsBadCounts(_ seats: [Int]) {
        #expect(throws: ServiceError.self) { try SeatSelection(scheduleID: 1, seatNumbers: seats, maxSeats: 4) }
    }

    @Test func rejectsSeatZeroAndNegatives() {
        #expect(throws: ServiceError(.seatOutOfRange, "Seat numbers start at 1.")) {
            try SeatSelection(scheduleID: 1, seatNumbers: [0, 3], maxSeats: 4)
        }
    }
}

@Suite struct ScheduleRuleTests {
    let now = Date(timeIntervalSince1970: 1_000_000)

    func schedule(opensIn: TimeInterval = -60, closesIn: TimeInterval = 3600, seats: Int = 10) -> Schedule {
        Schedule(
            id: 1, performanceID: 1, startsAt: now.addingTimeInterval(7200), saleOpensAt: now.addingTimeInterval(opensIn),
            saleClosesAt: now.addingTimeInterval(closesIn), totalSeats: seats, remainingSeats: seats)
    }

    @Test func holdNeedsTheSaleOpenAndSeatsInRange() throws {
        let selection = try SeatSelection(scheduleID: 1, seatNumbers: [10], maxSeats: 4)
        try schedule().checkHold(of: selection, at: now)
        #expect(throws: ServiceError.self) { try schedule(opensIn: 60).checkHold(of: selection, at: now) }
        #expect(throws: ServiceError.self) { try schedule(closesIn: -1).checkHold(of: selection, at: now) }
        #expect(throws: ServiceError.self) { try schedule(seats: 9).checkHold(of: selection, at: now) }
    }

    @Test func reservableNeedsSaleAndSeats() {
        var full = schedule()
        full.remainingSeats = 0
        #expect(schedule().isReservable(at: now))
        #expect(!full.isReservable(at: now))
        #expect(!schedule(opensIn: 10).isReservable(at: now))
    }

    @Test func layoutsNumberSeatsInGroupOrder() throws {
        let layout = try NewSchedule(
            startsAt: now.addingTimeInterval(100), saleOpensAt: now, saleClosesAt: now.addingTimeInterval(50),
            groups: [SeatGroup(grade: "VIP", count: 2, price: 100), SeatGroup(grade: "R", count: 3, price: 50)])
        #expect(layout.seats.map(\.seatNo) == [1, 2, 3, 4, 5])
        #expect(layout.seats.map(\.grade) == ["VIP", "VIP", "R", "R", "R"])
    }

    @Test func layoutsRejectInvertedWindowsAndBadGroups() {
        let start = now.addingTimeInterval(100)
        #expect(throws: ServiceError.self) {
            try NewSchedule(startsAt: start, saleOpensAt: start, saleClosesAt: now, groups: [SeatGroup(grade: "R", count: 1, price: 1)])
        }
        #expect(throws: ServiceError.self) {
            try NewSchedule(startsAt: now, saleOpensAt: now.addingTimeInterval(-10), saleClosesAt: start, groups: [SeatGroup(grade: "R", count: 1, price: 1)])
        }
        for group in [SeatGroup(grade: "R", count: 0, price: 1), SeatGroup(grade: "", count: 1, price: 1),
                      SeatGroup(grade: "R", count: 1, price: 0), SeatGroup(grade: "R", count: 200_000, price: 1)] {
            #expect(throws: ServiceError.self) {
                try NewSchedule(startsAt: start, saleOpensAt: now, saleClosesAt: start, groups: [group])
            }
        }
    }
}

@Suite struct ReservationRuleTests {
    let now = Date(timeIntervalSince1970: 1_000_000)

    func reservation(_ state: Reservation.State, expiresIn: TimeInterval = 60) -> Reservation {
        Reservation(
            id: 7, userID: 42, scheduleID: 1, seatNumbers: [1, 2], state: state, totalPrice: 300,
            holdExpiresAt: now.addingTimeInterval(expiresIn), createdAt: now)
    }

    @Test func payingConfirmsOnlyTheOwnersLiveHold() throws {
        #expect(try reservation(.pending).confirmed(by: 42, at: now).state == .confirmed)
        #expect(throws: ServiceError(.reservationNotFound, "Reservation 7 not found.")) {
            try reservation(.pending).confirmed(by: 43, at: now)
        }
        #expect(throws: ServiceError.self) { try reservation(.confirmed).confirmed(by: 42, at: now) }
        for expired in [reservation(.pending, expiresIn: 0), reservation(.expired)] {
            do {
                _ = try expired.confirmed(by: 42, at: now)
                Issue.record("an expired hold was paid")
            } catch let error as ServiceError {
                #expect(error.code == .holdExpired)
            }
        }
    }

    @Test func aLapsedHoldReadsAsExpired() {
        #expect(reservation(.pending, expiresIn: -1).visibleState(at: now) == .expired)
        #expect(reservation(.pending).visibleState(at: now) == .pending)
        #expect(reservation(.confirmed, expiresIn: -1).visibleState(at: now) == .confirmed)
    }

    @Test func cancellingReleasesHoldsAndRefundsPaidSeatsBeforeTheShow() throws {
        let show = now.addingTimeInterval(3600)
        #expect(try reservation(.pending).cancellation(by: 42, at: now, showStartsAt: show) == .releaseHold)
        #expect(try reservation(.confirmed).cancellation(by: 42, at: now, showStartsAt: show) == .refund(300))
        #expect(throws: ServiceError.self) { try reservation(.confirmed).cancellation(by: 42, at: show, showStartsAt: show) }
        #expect(throws: ServiceError.self) { try reservation(.cancelled).cancellation(by: 42, at: now, showStartsAt: show) }
        #expect(throws: ServiceError.self) { try reservation(.pending).cancellation(by: 1, at: now, showStartsAt: show) }
    }

    @Test func holdsArePricedFromTheirSeats() throws {
        let selection = try SeatSelection(scheduleID: 1, seatNumbers: [1, 2], maxSeats: 4)
        let seats = [Seat(seatNo: 1, grade: "VIP", price: 150), Seat(seatNo: 2, grade: "R", price: 100)]
        let hold = try NewHold(userID: 42, selection: selection, queueSeq: 7, seats: seats, now: now, holdDuration: .seconds(300))
        #expect(hold.totalPrice == 250)
        #expect(hold.holdExpiresAt == now.addingTimeInterval(300))
        #expect(throws: ServiceError.self) {
            try NewHold(userID: 42, selection: selection, queueSeq: 7, seats: [seats[0]], now: now, holdDuration: .seconds(300))
        }
    }
}

@Suite struct WalletRuleTests {
    @Test func chargesMustBePositiveAndWithinTheLimit() throws {
        let wallet = Wallet(userID: 1, balance: 100)
        #expect(try wallet.charge(50, maxCharge: 1000) == WalletMovement(kind: .charge, amount: 50, balanceAfter: 150, reservationID: nil))
        for amount: Int64 in [0, -5, 1001] {
            #expect(throws: ServiceError.self) { try wallet.charge(amount, maxCharge: 1000) }
        }
        #expect(throws: ServiceError.self) {
            try Wallet(userID: 1, balance: Wallet.maxBalance).charge(1, maxCharge: 1000)
        }
    }

    @Test func paymentsNeverOverdraw() throws {
        let wallet = Wallet(userID: 1, balance: 100)
        #expect(try wallet.pay(100, for: 9) == WalletMovement(kind: .payment, amount: -100, balanceAfter: 0, reservationID: 9))
        do {
            _ = try wallet.pay(101, for: 9)
            Issue.record("overdrawn")
        } catch let error as ServiceError {
            #expect(error.code == .insufficientBalance)
        }
    }

    @Test func refundsCreditTheReservation() throws {
        #expect(try Wallet(userID: 1, balance: 0).refund(70, for: 3) == WalletMovement(kind: .refund, amount: 70, balanceAfter: 70, reservationID: 3))
    }
}

@Suite struct QueueRuleTests {
    let now = Date(timeIntervalSince1970: 1_000_000)

    /// An entry of room 1 (or `room`) as the database would hand it over.
    func entry(_ seq: Int64, user: Int64, room: Int64 = 1, place: Int64? = nil, until: Date? = nil) -> QueueEntry {
        QueueEntry(seq: seq, performanceID: room, userID: user, place: place ?? seq, seenAt: now, activeUntil: until)
    }

    /// A board whose room 1 is drawn, with no entry from the draw.
    func drawnBoard() -> QueueBoard {
        var board = QueueBoard()
        board.markDrawn(1)
        return board
    }

    @Test func waitingLineCountsPositionsInOrder() {
        func spot(_ seq: Int64) -> WaitingLine.Spot { WaitingLine.Spot(place: seq, seq: seq) }
        var line = WaitingLine()
        for seq: Int64 in [1, 2, 3, 5, 4] { line.insert(WaitingLine.Entry(place: seq, seq: seq, user: seq * 10)) }
        #expect(line.position(of: spot(4)) == 4)
        line.remove(spot(1))
        line.remove(spot(3))
        #expect(line.position(of: spot(2)) == 1)
        #expect(line.position(of: spot(5)) == 3)
        #expect(line.position(of: spot(3)) == nil)
        #expect(line.count == 3)
        #expect(line.removeFirst(through: 4).map(\.user) == [20, 40])
        #expect(line.position(of: spot(5)) == 1)
    }

    @Test func entriesSharingAPlaceWaitInSeqOrderAndLeaveTogether() {
        var line = WaitingLine()
        for seq: Int64 in [7, 3, 5] { line.insert(WaitingLine.Entry(place: -10, seq: seq, user: seq)) }
        line.insert(WaitingLine.Entry(place: -20, seq: 9, user: 9))
        #expect([9, 3, 5, 7].map { line.position(of: WaitingLine.Spot(place: $0 == 9 ? -20 : -10, seq: $0)) } == [1, 2, 3, 4])
        #expect(line.removeFirst(through: -10).map(\.seq) == [9, 3, 5, 7])
    }

    @Test func aDrawPlaceOrdersAsTheKeyAndIsAheadOfEveryLaterJoin() {
        let seed = FairDraw.newSeed()
        let ids = (0..<200).map { _ in FairDraw.newEntryID() }
        let byPlace = ids.sorted { FairDraw.place(seed: seed, entryID: $0) < FairDraw.place(seed: seed, entryID: $1) }
        #expect(byPlace == FairDraw.order(ids, seed: seed))
        #expect(ids.allSatisfy { FairDraw.place(seed: seed, entryID: $0) < 0 })
    }

    @Test func anAdmissionWatermarkActivatesEveryoneWaitingUpToIt() {
        var board = drawnBoard()
        for seq: Int64 in 1...5 { board.joined(entry(seq, user: 100 + seq)) }
        board.heard(through: 5)
        let until = now.addingTimeInterval(60)
        board.admitted(in: 1, through: 3, until: until)
        #expect(board.status(room: 1, user: 102, seq: 2, at: now) == .active(until: until))
        #expect(board.status(room: 1, user: 105, seq: 5, at: now) == .waiting(position: 2))
        #expect(board.activeCount(in: 1) == 3)
        board.removeTimedOut(at: until)
        #expect(board.activeCount(in: 1) == 0)
        #expect(board.status(room: 1, user: 102, seq: 2, at: now) == .gone(.expired))
    }

    @Test func aJoinOnAnotherInstanceWaitsAtTheBackUntilThisBoardHearsOfIt() {
        var board = drawnBoard()
        board.joined(entry(1, user: 1))
        board.heard(through: 2)
        // seq 2 was handed out and is gone (spent elsewhere); seq 3 is too new to be known yet.
        #expect(board.status(room: 1, user: 2, seq: 2, at: now) == .gone(.expired))
        #expect(board.status(room: 1, user: 3, seq: 3, at: now) == .waiting(position: 2))
        // A user known here by an older entry re-joined elsewhere.
        #expect(board.status(room: 1, user: 1, seq: 4, at: now) == .waiting(position: 2))
    }

    @Test func rejoiningGoesToTheBackAndKillsTheOldToken() {
        var board = drawnBoard()
        board.joined(entry(1, user: 1))
        board.joined(entry(2, user: 2))
        board.joined(entry(3, user: 1))
        #expect(board.status(room: 1, user: 1, seq: 1, at: now) == .gone(.replaced))
        #expect(board.status(room: 1, user: 2, seq: 2, at: now) == .waiting(position: 1))
        #expect(board.status(room: 1, user: 1, seq: 3, at: now) == .waiting(position: 2))
    }

    @Test func admissionBeforeTheJoinEventStillEndsActive() {
        var board = drawnBoard()
        let until = now.addingTimeInterval(60)
        board.apply(entry(1, user: 1, until: until))
        board.joined(entry(1, user: 1))
        #expect(board.status(room: 1, user: 1, seq: 1, at: now) == .active(until: until))
        #expect(board.waitingCount(in: 1) == 0)
        #expect(board.status(room: 1, user: 1, seq: 1, at: now.addingTimeInterval(61)) == .gone(.expired))
        board.ended(room: 1, user: 1, seq: 1, because: .used)
        #expect(board.activeCount(in: 1) == 0)
    }

    @Test func anEndedEntrySaysWhyItEnded() {
        var board = drawnBoard()
        let until = now.addingTimeInterval(60)
        board.apply(entry(1, user: 1, until: until))
        board.apply(entry(2, user: 2, until: until))
        board.joined(entry(3, user: 3))
        board.heard(through: 3)
        board.ended(room: 1, user: 1, seq: 1, because: .used)
        board.joined(entry(4, user: 3))
        board.removeTimedOut(at: until)
        var abandoned = entry(6, user: 6)
        abandoned.abandoned = true
        board.apply(abandoned)
        #expect(board.status(room: 1, user: 1, seq: 1, at: now) == .gone(.used))
        #expect(board.status(room: 1, user: 2, seq: 2, at: now) == .gone(.expired))
        #expect(board.status(room: 1, user: 3, seq: 3, at: now) == .gone(.replaced))
        #expect(board.status(room: 1, user: 6, seq: 6, at: now) == .gone(.abandoned))
        // Used, then joined again: the old token still says it was used, not replaced.
        board.joined(entry(5, user: 1))
        #expect(board.status(room: 1, user: 1, seq: 1, at: now) == .gone(.used))
    }

    @Test func roomsKeepTheirOwnLinesAndAUserMayWaitInSeveral() {
        var board = QueueBoard()
        board.markDrawn(1)
        board.markDrawn(2)
        board.joined(entry(1, user: 7, room: 1))
        board.joined(entry(2, user: 8, room: 2))
        board.joined(entry(3, user: 7, room: 2))
        #expect(board.status(room: 1, user: 7, seq: 1, at: now) == .waiting(position: 1))
        #expect(board.status(room: 2, user: 8, seq: 2, at: now) == .waiting(position: 1))
        #expect(board.status(room: 2, user: 7, seq: 3, at: now) == .waiting(position: 2))
        board.admitted(in: 2, through: 3, until: now.addingTimeInterval(60))
        #expect(board.status(room: 1, user: 7, seq: 1, at: now) == .waiting(position: 1), "another room's round admits nobody here")
        #expect(board.activeCount(in: 2) == 2)
    }

    @Test func beforeTheDrawNobodyHasAPositionAndAfterItTheDrawPlacesOrderTheLine() {
        var board = QueueBoard()
        // Joins before the draw take their places in it: 3, 1, 2 in draw order.
        for (seq, place): (Int64, Int64) in [(1, -200), (2, -100), (3, -300)] { board.joined(entry(seq, user: seq, place: place)) }
        #expect(board.status(room: 1, user: 2, seq: 2, at: now) == .prequeue)
        board.markDrawn(1)
        board.joined(entry(2, user: 2, place: -100))  // heard of again: changes nothing
        // 4 joined after the draw, at its seq.
        board.joined(entry(4, user: 4))
        #expect([3, 1, 2, 4].map { board.status(room: 1, user: $0, seq: $0, at: now) } == (1...4).map { .waiting(position: $0) })
        board.admitted(in: 1, through: -200, until: now.addingTimeInterval(60))
        #expect(board.status(room: 1, user: 2, seq: 2, at: now) == .waiting(position: 1))
        #expect(board.status(room: 1, user: 1, seq: 1, at: now) == .active(until: now.addingTimeInterval(60)))
        // A user re-joining before the draw would have had a new place; after it, the back.
        board.joined(entry(5, user: 2))
        #expect(board.status(room: 1, user: 2, seq: 5, at: now) == .waiting(position: 2))
        #expect(board.status(room: 1, user: 2, seq: 2, at: now) == .gone(.replaced))
    }

    @Test func aPollIsReportedSeenAtMostOncePerInterval() {
        var board = drawnBoard()
        board.joined(entry(1, user: 1))
        let reports = [10, 30, 40, 61].map { board.seen(room: 1, user: 1, seq: 1, at: now.addingTimeInterval($0), every: 30) }
        // The join itself was a sighting; then once per 30 s.
        #expect(reports == [false, true, false, true])
        let unknown = board.seen(room: 1, user: 1, seq: 99, at: now, every: 30)
        #expect(!unknown, "an entry not waiting here")
    }

    @Test func theEstimatedWaitFollowsTheSlotsUnderACap() {
        // One slot, taken for another 200 s: position 1 waits for it, position 2 for a whole window more.
        let capped = AdmissionPolicy(tick: .seconds(1), admitPerTick: 10, maxActive: 1, activeDuration: .seconds(300))
        let slots = capped.slots(activeUntil: [now.addingTimeInterval(200)], now: now)
        #expect(capped.estimatedWaitSeconds(position: 1, slots: slots, now: now) == 200)
        #expect(capped.estimatedWaitSeconds(position: 2, slots: slots, now: now) == 500)
        // Three slots, one free: the first in line goes at the next tick, the next ones as windows end.
        let three = AdmissionPolicy(tick: .seconds(1), admitPerTick: 10, maxActive: 3, activeDuration: .seconds(300))
        let some = three.slots(activeUntil: [now.addingTimeInterval(90), now.addingTimeInterval(30)], now: now)
        #expect(some == [now, now.addingTimeInterval(30), now.addingTimeInterval(90)])
        #expect(three.estimatedWaitSeconds(position: 1, slots: some, now: now) == 1)
        #expect(three.estimatedWaitSeconds(position: 2, slots: some, now: now) == 30)
        #expect(three.estimatedWaitSeconds(position: 3, slots: some, now: now) == 90)
        #expect(three.estimatedWaitSeconds(position: 4, slots: some, now: now) == 300)
        // More active than the cap (it was lowered): the earliest endings only make room.
        let lowered = three.slots(activeUntil: (1...5).map { now.addingTimeInterval(Double($0 * 10)) }, now: now)
        #expect(lowered == [30, 40, 50].map { now.addingTimeInterval($0) })
        // No cap: the pace alone.
        let open = AdmissionPolicy(tick: .seconds(1), admitPerTick: 10, maxActive: 0, activeDuration: .seconds(300))
        #expect(open.slots(activeUntil: [now], now: now).isEmpty)
        #expect(open.estimatedWaitSeconds(position: 25, slots: [], now: now) == 3)
    }

    @Test func admissionRespectsTheActiveCap() {
        let capped = AdmissionPolicy(tick: .seconds(1), admitPerTick: 10, maxActive: 25, activeDuration: .seconds(300))
        #expect(capped.admissions(whileActive: 0) == 10)
        #expect(capped.admissions(whileActive: 20) == 5)
        #expect(capped.admissions(whileActive: 30) == 0)
        let unlimited = AdmissionPolicy(tick: .milliseconds(500), admitPerTick: 10, maxActive: 0, activeDuration: .seconds(300))
        #expect(unlimited.admissions(whileActive: 1_000_000) == 10)
        #expect(unlimited.estimatedWaitSeconds(position: 25) == 2)
    }

    @Test func queueTokensResistForgery() {
        let codec = QueueTokenCodec(secret: QueueTokenCodec.derivedSecret(fromCredentialSecret: "a"))
        let ticket = QueueTicket(userID: 42, performanceID: 3, seq: 7, entryID: "00ff" + String(repeating: "a1", count: 14))
        let token = codec.encode(ticket)
        #expect(codec.decode(token) == ticket)
        let large = QueueTicket(userID: .max, performanceID: .max, seq: 1 << 40 | 0xFF, entryID: FairDraw.newEntryID())
        #expect(codec.decode(codec.encode(large)) == large)
        #expect(codec.decode(token.dropLast(2)) == nil)
        let other = QueueTokenCodec(secret: QueueTokenCodec.derivedSecret(fromCredentialSecret: "b"))
        #expect(other.decode(token) == nil)
        let forgedPayload = Base64URL.encode(Data(repeating: 1, count: 40)) + "." + token.split(separator: ".")[1]
        #expect(codec.decode(forgedPayload) == nil)
        #expect(codec.decode(token + ".") == nil)
        #expect(codec.decode("." + token) == nil)
        #expect(codec.decode("garbage") == nil)
        #expect(codec.decode("") == nil)
    }
}

/// The admission round's decisions between its statements, without a database (both backends
/// run it for real in the queue, room, shared-database and flash-sale tests).
@Suite struct AdmissionRoundTests {
    let defaults = AdmissionPolicy(tick: .milliseconds(100), admitPerTick: 5, maxActive: 3, activeDuration: .seconds(60))
    let lease = AdmitterLease(holder: "a", duration: .seconds(1))

    func statement(_ step: AdmissionRound.Step) -> AdmissionRound.Statement? {
        if case .run(let statement) = step { return statement } else { return nil }
    }

    func outcome(_ step: AdmissionRound.Step) -> AdmissionOutcome? {
        if case .done(let outcome) = step { return outcome } else { return nil }
    }

    /// A due room's row: drawn, 5 per tick, at most 3 active, one active per seat.
    func room(_ id: Int64, undrawn: Bool = false, paused: Bool = false, active: Int64, seats: Int64) -> [Int64?] {
        [id, undrawn ? 1 : 0, paused ? 1 : 0, 5, 100, 3, 60, 1000, 120, active, seats]
    }

    /// A round taken as far as the rows of its due rooms.
    func round(rooms: [[Int64?]]) -> (AdmissionRound, AdmissionRound.Step) {
        var round = AdmissionRound(now: Date(millis: 1_000_000), defaults: defaults, lease: lease)
        _ = round.next(nil)
        #expect(statement(round.next([[1]]))?.sql.hasPrefix("DELETE") == true)
        #expect(statement(round.next([]))?.arguments.prefix(4) == [.integer(5), .integer(100), .integer(3), .integer(60)])
        let step = round.next(rooms)
        return (round, step)
    }

    @Test func anotherInstancesLeaseEndsTheRound() {
        var round = AdmissionRound(now: Date(millis: 1_000), defaults: defaults, lease: lease)
        let renew = statement(round.next(nil))
        #expect(renew?.arguments == [.text("a"), .integer(2_000), .integer(1_000)])
        #expect(outcome(round.next([])) == .notAdmitter)
    }

    @Test func theCapsLeaveNoSlotAndNothingIsWritten() {
        // Three active is the room's cap; one seat left caps it at one.
        let (_, step) = round(rooms: [room(1, active: 3, seats: 100)])
        #expect(outcome(step) == .admitted(count: 0, drawn: 0))
        let (_, seatsStep) = round(rooms: [room(1, active: 1, seats: 1), room(2, paused: true, active: 0, seats: 100)])
        #expect(outcome(seatsStep) == .admitted(count: 0, drawn: 0))
    }

    @Test func admitsUpToTheWatermarkPassingOverTheAbandoned() throws {
        var (round, step) = round(rooms: [room(7, active: 1, seats: 100)])
        let scan = try #require(statement(step))
        #expect(scan.arguments == [.integer(1_000_000 - 120_000), .integer(7), .integer(Int64(2 + AdmissionRound.passOverLimit))])
        // Places -5 (stale), -4, -3 (stale), -2: two slots go to -4 and -2, passing over -5 and -3.
        let record = statement(round.next([[-5, 1], [-4, 0], [-3, 1], [-2, 0], [-1, 0]]))
        #expect(record?.arguments == [.integer(7), .integer(-2), .integer(1_060_000), .integer(2), .text("a"), .integer(1_000_000)])
        #expect(record?.numberedSQL.contains("VALUES ($1, $2, $3, 0, $4, $5, $6)") == true)
        let passOver = statement(round.next([[31]]))
        #expect(passOver?.arguments == [.integer(31), .integer(7), .integer(-2), .integer(1_000_000 - 120_000)])
        #expect(statement(round.next([]))?.arguments == [.integer(1_060_000), .integer(7), .integer(-2)])
        #expect(statement(round.next([[4], [2]]))?.arguments == [.integer(2), .integer(31)])
        #expect(statement(round.next([]))?.arguments == [.integer(1_000_100), .integer(2), .integer(7)])
        #expect(outcome(round.next([])) == .admitted(count: 2, drawn: 0))
    }

    @Test func aRoomWhoseSaleStartedIsDrawnOnceThenAdmits() throws {
        var (round, step) = round(rooms: [room(4, undrawn: true, active: 0, seats: 10)])
        let lock = try #require(statement(step))
        #expect(lock.sql.contains("drawn_at IS NULL"), "a room already drawn is not drawn again")
        #expect(lock.arguments == [.integer(1_000_000), .text("a"), .integer(4)])
        let count = try #require(statement(round.next([[4]])))
        #expect(count.sql.contains("COUNT(*) FROM room_draw_entries"), "the draw counts the list its joins wrote")
        #expect(statement(round.next([]))?.sql.contains("ORDER BY place") == true, "then the room admits")
    }

    @Test func aDrawFoundDoneGoesStraightToAdmission() throws {
        var (round, _) = round(rooms: [room(4, undrawn: true, active: 0, seats: 10)])
        #expect(statement(round.next([]))?.sql.contains("ORDER BY place") == true)
    }
}
