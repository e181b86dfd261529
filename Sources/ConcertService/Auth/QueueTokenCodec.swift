import Crypto
import Foundation

/// What a queue token says: whose it is, which room it belongs to, and which entry there.
public struct QueueTicket: Sendable, Equatable {
    public var userID: Int64
    public var performanceID: Int64
    public var seq: Int64
    /// The entry's public id (32 lowercase hex characters), which names it in the draw.
    public var entryID: String
}

/// Queue tokens are the service's own: the ticket, HMAC-SHA256-signed with `QUEUE_SECRET`,
/// base64url-encoded. Verifying one is a hash, not a database read, so polling stays cheap.
public struct QueueTokenCodec: Sendable {
    /// Keyed once: every token's MAC starts from a copy, not from the key (every poll and hold checks one).
    private let keyedMAC: HMAC<SHA256>

    public init(secret: SymmetricKey) {
        keyedMAC = HMAC(key: secret)
    }

    /// The queue key derived from the credential secret, when `QUEUE_SECRET` is not set.
    public static func derivedSecret(fromCredentialSecret secret: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: Data(secret.utf8)),
            info: Data("concert queue tokens v1".utf8),
            outputByteCount: 32)
    }

    private static let payloadSize = 40

    public func encode(_ ticket: QueueTicket) -> String {
        var payload = Data(capacity: Self.payloadSize)
        for number in [ticket.userID, ticket.performanceID, ticket.seq] {
            withUnsafeBytes(of: number.bigEndian) { payload.append(contentsOf: $0) }
        }
        payload.append(contentsOf: Self.bytes(ofHex: ticket.entryID))
        return Base64URL.encode(payload) + "." + Base64URL.encode(Data(mac(of: payload)))
    }

    /// The ticket of a genuine token, or nil for anything forged, truncated or malformed.
    public func decode(_ token: some StringProtocol) -> QueueTicket? {
        // A second "." would land in the MAC's text, which then fails to decode.
        guard token.utf8.count <= 128, let dot = token.utf8.firstIndex(of: UInt8(ascii: ".")) else { return nil }
        guard let payload = Base64URL.decode(token[..<dot]), payload.count == Self.payloadSize,
            let sentMAC = Base64URL.decode(token[token.utf8.index(after: dot)...])
        else { return nil }
        // `==` against bytes compares in constant time.
        guard mac(of: payload) == sentMAC else { return nil }
        func int64(at offset: Int) -> Int64 { payload.dropFirst(offset).prefix(8).reduce(0) { ($0 << 8) | Int64($1) } }
        return QueueTicket(
            userID: int64(at: 0), performanceID: int64(at: 8), seq: int64(at: 16), entryID: FairDraw.hex(payload.suffix(16)))
    }

    /// The 16 bytes an entry id's 32 hex characters spell.
    private static func bytes(ofHex hex: String) -> [UInt8] {
        let digits = Array(hex.utf8).map { $0 <= 57 ? $0 - 48 : $0 - 87 }
        return stride(from: 0, to: min(digits.count, 32), by: 2).map { digits[$0] << 4 | digits[$0 + 1] }
    }

    private func mac(of payload: Data) -> HashedAuthenticationCode<SHA256> {
        var mac = keyedMAC
        mac.update(data: payload)
        return mac.finalize()
    }
}

enum Base64URL {
    static func encode(_ data: Data) -> String {
        data.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Byte by byte, without intermediate strings: every poll decodes a token.
    static func decode(_ text: some StringProtocol) -> Data? {
        var base64 = [UInt8]()
        base64.reserveCapacity(text.utf8.count + 3)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "-"): base64.append(UInt8(ascii: "+"))
            case UInt8(ascii: "_"): base64.append(UInt8(ascii: "/"))
            case UInt8(ascii: "+"), UInt8(ascii: "/"), UInt8(ascii: "="): return nil  // not base64url
            default: base64.append(byte)
            }
        }
        base64.append(contentsOf: repeatElement(UInt8(ascii: "="), count: (4 - base64.count % 4) % 4))
        return Data(base64Encoded: Data(base64))
    }
}
