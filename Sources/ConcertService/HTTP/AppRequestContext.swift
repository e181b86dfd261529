import Foundation
import Hummingbird

/// The request context of every route: Hummingbird's core plus our JSON conventions
/// (snake_case, ISO-8601 UTC) and a small body limit, since no request needs more.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage

    public init(source: Source) {
        coreContext = .init(source: source)
    }

    public var maxUploadSize: Int { 16 * 1024 }
    public var requestDecoder: JSONDecoder { APIJSON.decoder }
    public var responseEncoder: JSONEncoder { APIJSON.encoder }
}

enum APIJSON {
    static let encoder: JSONEncoder = {
        // Response types name their snake_case keys (CodingKeys), as request bodies do.
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = .sortedKeys
        return encoder
    }()

    static let decoder: JSONDecoder = {
        // Request bodies name their snake_case keys (CodingKeys): no key conversion per request,
        // and an error names the field as the client wrote it.
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = APIDate.parse(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "Expected an ISO-8601 date-time, got \"\(text)\".")
            }
            return date
        }
        return decoder
    }()
}

/// Dates in requests: ISO-8601 date-times (with or without fractional seconds) or plain dates (UTC).
enum APIDate {
    static func parse(_ text: String) -> Date? {
        let styles: [Date.ISO8601FormatStyle] = [
            .iso8601,
            Date.ISO8601FormatStyle(includingFractionalSeconds: true),
            Date.ISO8601FormatStyle().year().month().day(),
        ]
        for style in styles {
            if let date = try? style.parse(text) { return date }
        }
        return nil
    }
}
