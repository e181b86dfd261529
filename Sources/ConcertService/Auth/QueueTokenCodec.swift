import Crypto
import Foundation

/// What a queue token says: whose it is and their place in the queue.
public struct QueueTicket: Sendable, Equatable {
    public var userID: Int64
    public var seq: Int64
}

/// Queue tokens are the service's own: the ticket, HMAC-SHA256-signed with `QUEUE_SECRET`,
/// base64url-encoded. Verifying one is a hash, not a database read, so polling stays cheap.
public struct QueueTokenCodec: Sendable {
    private let key: SymmetricKey

    public init(secret: SymmetricKey) {
        key = secret
    }

    /// The queue key derived from the credential secret, when `QUEUE_SECRET` is not set.
    public static func derivedSecret(fromCredentialSecret secret: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: Data(secret.utf8)),
            info: Data("concert queue tokens v1".utf8),
            outputByteCount: 32)
    }

    public func encode(_ ticket: QueueTicket) -> String {
        var payload = Data(capacity: 16)
        withUnsafeBytes(of: ticket.userID.bigEndian) { payload.append(contentsOf: $0) }
        withUnsafeBytes(of: ticket.seq.bigEndian) { payload.append(contentsOf: $0) }
        let mac = Data(HMAC<SHA256>.authenticationCode(for: payload, using: key))
        return Base64URL.encode(payload) + "." + Base64URL.encode(mac)
    }

    /// The ticket of a genuine token, or nil for anything forged, truncated or malformed.
    public func decode(_ token: some StringProtocol) -> QueueTicket? {
        // A second "." would land in the MAC's text, which then fails to decode.
        guard token.utf8.count <= 128, let dot = token.firstIndex(of: ".") else { return nil }
        guard let payload = Base64URL.decode(token[..<dot]), payload.count == 16,
            let mac = Base64URL.decode(token[token.index(after: dot)...]),
            HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: payload, using: key)
        else { return nil }
        let bytes = [UInt8](payload)
        func int64(at offset: Int) -> Int64 {
            bytes[offset..<offset + 8].reduce(Int64(0)) { ($0 << 8) | Int64($1) }
        }
        return QueueTicket(userID: int64(at: 0), seq: int64(at: 8))
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
