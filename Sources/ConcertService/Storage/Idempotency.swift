import Foundation

/// An `Idempotency-Key` header with a fingerprint of the request it came with; a key is
/// scoped to its user. Only successful results are recorded: a request that failed changed
/// nothing and may be retried with the same key.
public struct IdempotencyKey: Sendable, Equatable {
    public var userID: Int64
    public var key: String
    public var fingerprint: String

    public init(userID: Int64, key: String, fingerprint: String) {
        self.userID = userID
        self.key = key
        self.fingerprint = fingerprint
    }
}

/// A result, and whether it is the recorded result of an earlier request with the same key.
public struct Idempotent<Value: Sendable>: Sendable {
    public var value: Value
    public var replayed: Bool
}

extension IdempotencyKey {
    /// What a store keeps of a request made with an idempotency key.
    public struct Record: Sendable {
        var fingerprint: String
        var result: Data
    }

    /// The idempotency protocol, over a store's two primitives: read the record of this key
    /// (in the write's transaction, after whatever lock makes a concurrent twin wait) and write
    /// one. A recorded key answers its recorded result; a key recorded for a different request
    /// is refused; a new key runs `body` and records its result in the same transaction.
    /// Only successes are recorded: a failed request changed nothing and may be retried.
    func replay<V: Decodable>(_ recorded: Record?, as type: V.Type) throws -> Idempotent<V>? {
        guard let recorded else { return nil }
        guard recorded.fingerprint == fingerprint else { throw StoreRefusal.idempotencyKeyReused }
        return Idempotent(value: try JSONDecoder().decode(V.self, from: recorded.result), replayed: true)
    }

    func record(of value: some Encodable) throws -> Record {
        Record(fingerprint: fingerprint, result: try JSONEncoder().encode(value))
    }
}
