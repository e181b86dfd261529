import Foundation
import Hummingbird

/// The caller's own wallet.
struct WalletController {
    static let defaultPageSize = 20

    let authentication: Authentication
    let clock: any WallClock
    let wallets: WalletService

    func addRoutes(to router: Router<AppRequestContext>) {
        router.group("v1/wallet")
            .add(middleware: authentication)
            .get(use: balance)
            .post("charges", use: charge)
            .get("entries", use: entries)
    }

    struct ChargeBody: Decodable {
        var amount: Int64
    }

    @Sendable func balance(_ request: Request, context: AppRequestContext) async throws -> WalletResponse {
        let identity = try context.caller
        return WalletResponse(balance: try await wallets.wallet(of: identity).balance)
    }

    @Sendable func charge(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<WalletResponse> {
        let identity = try context.caller
        let body = try await ReceivedBody.read(request, context: context)
        let input = try body.decode(ChargeBody.self)
        let result = try await wallets.charge(
            identity, amount: input.amount, idempotency: try request.idempotencyKey(for: identity, body: body), now: clock.now)
        return result.map { WalletResponse(balance: $0.balance) }.response(status: .created)
    }

    @Sendable func entries(_ request: Request, context: AppRequestContext) async throws -> LedgerResponse {
        let identity = try context.caller
        let cursor = try request.integerQuery("cursor", in: 1...Int64.max)
        let limit = try request.integerQuery("limit", in: 1...Int64(WalletService.maxPageSize)).map(Int.init)
        return LedgerResponse(try await wallets.ledger(of: identity, cursor: cursor, limit: limit ?? Self.defaultPageSize))
    }
}
