import Crypto
import Foundation
import HTTPTypes
import Hummingbird

// Reading what a client sends, validated at the edge: anything malformed becomes a 4xx
// `ServiceError` here, before any use case runs.

extension HTTPField.Name {
    static let queueToken = Self("Queue-Token")!
    static let idempotencyKey = Self("Idempotency-Key")!
    static let idempotentReplayed = Self("Idempotent-Replayed")!
}

/// A request body read once: decoded as JSON, and fingerprinted for idempotency keys.
struct ReceivedBody {
    let bytes: ByteBuffer

    static func read(_ request: Request, context: AppRequestContext) async throws -> ReceivedBody {
        ReceivedBody(bytes: try await request.body.collect(upTo: context.maxUploadSize))
    }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        do {
            return try APIJSON.decoder.decode(T.self, from: Data(buffer: bytes))
        } catch let error as DecodingError {
            throw ServiceError(.invalidBody, Self.describe(error))
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }
            return keys.isEmpty ? "the body" : keys.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, _): return "Missing field \(key.stringValue)."
        case .typeMismatch(_, let context), .valueNotFound(_, let context): return "Wrong type or null at \(path(context))."
        case .dataCorrupted(let context) where context.codingPath.isEmpty: return "The body is not valid JSON."
        case .dataCorrupted(let context): return "Invalid value at \(path(context)): \(context.debugDescription)"
        @unknown default: return "The body is not valid."
        }
    }
}

extension Request {
    /// The bearer credential, if the Authorization header carries one. Read byte-wise (the
    /// scheme in any case, blanks trimmed): Foundation's trimming cost more per request than
    /// checking a remembered credential.
    var bearerToken: String? {
        guard let header = headers[.authorization]?.utf8 else { return nil }
        let scheme = "bearer".utf8
        let isBlank = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        guard header.count > scheme.count, zip(header, scheme).allSatisfy({ $0 | 0x20 == $1 }),
            header[header.index(header.startIndex, offsetBy: scheme.count)] == UInt8(ascii: " ")
        else { return nil }
        let token = header.dropFirst(scheme.count).drop(while: isBlank)
        guard let last = token.lastIndex(where: { !isBlank($0) }) else { return nil }
        return String(Substring(token[...last]))
    }

    var queueToken: String? { headers[.queueToken] }

    /// The Idempotency-Key header, scoped to the user and fingerprinted with this request.
    func idempotencyKey(for identity: Identity, body: ReceivedBody?) throws -> IdempotencyKey? {
        guard let key = headers[.idempotencyKey] else { return nil }
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw ServiceError(.invalidIdempotencyKey, "Idempotency-Key must be 1 to 255 visible ASCII characters.")
        }
        var hash = SHA256()
        hash.update(data: Data("\(method.rawValue) \(uri.path)\n".utf8))
        if let body { hash.update(data: Data(buffer: body.bytes)) }
        let fingerprint = hash.finalize().map { String(format: "%02x", $0) }.joined()
        return IdempotencyKey(userID: identity.userID, key: key, fingerprint: fingerprint)
    }

    /// A query parameter that must be an integer in `range` when present.
    func integerQuery(_ name: String, in range: ClosedRange<Int64>) throws -> Int64? {
        guard let text = uri.queryParameters.get(name) else { return nil }
        guard let value = Int64(text), range.contains(value) else {
            throw ServiceError(.invalidParameter, "\(name) must be an integer between \(range.lowerBound) and \(range.upperBound).")
        }
        return value
    }

    func dateQuery(_ name: String) throws -> Date? {
        guard let text = uri.queryParameters.get(name) else { return nil }
        guard let date = APIDate.parse(text) else {
            throw ServiceError(.invalidParameter, "\(name) must be an ISO-8601 date or date-time.")
        }
        return date
    }
}

extension AppRequestContext {
    /// A positive integer id from the path; anything else is a 400, an unknown one a 404 later.
    func id(_ name: String = "id") throws -> Int64 {
        guard let text = parameters.get(name), let id = Int64(text), id > 0 else {
            throw ServiceError(.invalidParameter, "The \(name) in the path must be a positive integer.")
        }
        return id
    }
}

/// Authentication of the caller from the Authorization header.
struct Authenticator: Sendable {
    let credentials: Credentials

    func user(_ request: Request) async throws -> Identity {
        guard let token = request.bearerToken else {
            throw ServiceError(.unauthenticated, "Send a credential: Authorization: Bearer <token>.")
        }
        return try await credentials.identity(fromToken: token)
    }

    func admin(_ request: Request) async throws -> Identity {
        let identity = try await user(request)
        guard identity.isAdmin else {
            throw ServiceError(.forbidden, "This endpoint needs an admin credential.")
        }
        return identity
    }
}
