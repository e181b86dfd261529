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
        let data = Data(buffer: bytes)
        do {
            return try APIJSON.decoder.decode(T.self, from: data)
        } catch let error as DecodingError {
            // Foundation reports a number that does not fit an integer field (10.5, 2^63) as
            // invalid JSON, without a path: find the field, so the message can name it.
            if case .dataCorrupted(let context) = error, context.codingPath.isEmpty,
                let json = try? JSONSerialization.jsonObject(with: data),
                let field = Self.firstNonInteger(in: json)
            {
                throw ServiceError(
                    .invalidBody, "\(field) must be a whole number within 64 bits (amounts are in the smallest unit, e.g. 1050, not 10.5).")
            }
            throw ServiceError(.invalidBody, Self.describe(error))
        }
    }

    /// The path of the first number in `json` that is not an integer of 64 bits.
    private static func firstNonInteger(in json: Any, at path: String = "") -> String? {
        switch json {
        case let object as [String: Any]:
            for key in object.keys.sorted() {
                if let found = firstNonInteger(in: object[key]!, at: path.isEmpty ? key : "\(path).\(key)") { return found }
            }
        case let array as [Any]:
            for (index, element) in array.enumerated() {
                if let found = firstNonInteger(in: element, at: "\(path).\(index)") { return found }
            }
        case let number as NSNumber:
            if "\(number)" != String(number.int64Value) { return path }
        default:
            break
        }
        return nil
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
            throw ServiceError(.invalidParameter, "\(name): \(APIDate.expectation(got: text)) (write + as %2B in a query).")
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

extension KeyedDecodingContainer {
    /// A field a client may leave out but not send as null: synthesized decoding would take a
    /// null for "left out", which the API document does not allow.
    func ifSent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        contains(key) ? try decode(T.self, forKey: key) : nil
    }
}
