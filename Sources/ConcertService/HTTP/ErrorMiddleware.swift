import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1

/// Turns every error into the API's error shape `{"error": {"code", "message"}}` with the
/// status of its code. Anything unexpected is logged and becomes a 500 (a bug to fix).
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let allowedMethods: AllowedMethods

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as ServiceError {
            return Self.response(for: error)
        } catch let error as any HTTPResponseError where error.status == .notFound {
            guard let methods = allowedMethods.methods(at: request.uri.path) else {
                return Self.response(for: ServiceError(.routeNotFound, "No such endpoint."))
            }
            var response = Self.response(
                for: ServiceError(.methodNotAllowed, "\(request.uri.path) answers \(methods.joined(separator: ", ")), not \(request.method)."))
            response.headers[.allow] = methods.joined(separator: ", ")
            return response
        } catch let error as any HTTPResponseError {
            return Self.response(for: Self.serviceError(from: error))
        } catch where Self.isClientGone(error) {
            // The client closed the connection before its request was complete: nobody reads
            // this answer, and it is not the server's failure.
            context.logger.debug("The client went away mid-request", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            return Self.response(for: ServiceError(.invalidBody, "The request ended before its body was complete."))
        } catch {
            context.logger.error("Unhandled error", metadata: ["error": "\(String(reflecting: error))", "path": "\(request.uri.path)"])
            return Self.response(for: ServiceError(.internalError, "An unexpected error occurred."))
        }
    }

    /// Errors of a connection that ended under a request: NIO's channel and parser errors.
    static func isClientGone(_ error: any Error) -> Bool {
        error is ChannelError || error is HTTPParserError || error is IOError || error is CancellationError
    }

    /// Hummingbird's and NIO's own errors: oversized bodies, malformed requests.
    static func serviceError(from error: any HTTPResponseError) -> ServiceError {
        let message = (error as? HTTPError)?.body
        return switch error.status {
        case .contentTooLarge: ServiceError(.bodyTooLarge, "The request body is too large.")
        case .unauthorized: ServiceError(.unauthenticated, message ?? "Authentication required.")
        default: ServiceError(.invalidBody, message ?? "The request is malformed.")
        }
    }

    static func response(for error: ServiceError) -> Response {
        var headers: HTTPFields = [.contentType: jsonContentType]
        if let seconds = error.retryAfter ?? error.code.defaultRetryAfter {
            headers[.retryAfter] = String(seconds)
        }
        return Response(status: error.code.status, headers: headers, body: .init(byteBuffer: body(for: error)))
    }

    /// `{"error":{"code":…,"message":…,"position":…,"reason":…}}`, written directly: JSONEncoder
    /// was a large part of a refusal's cost, and every loser of a hot seat gets one.
    static func body(for error: ServiceError) -> ByteBuffer {
        var body = ByteBuffer()
        body.writeStaticString(#"{"error":{"code":"#)
        body.writeJSONString(error.code.rawValue)
        body.writeStaticString(#","message":"#)
        body.writeJSONString(error.message)
        if let position = error.position {
            body.writeStaticString(#","position":"#)
            body.writeString(String(position))
        }
        if let reason = error.reason {
            body.writeStaticString(#","reason":"#)
            body.writeJSONString(reason)
        }
        body.writeStaticString("}}")
        return body
    }
}

extension ErrorCode {
    /// The one place where error codes meet HTTP statuses.
    var status: HTTPResponse.Status {
        switch self {
        case .invalidBody, .invalidParameter, .invalidIdempotencyKey: .badRequest
        case .unauthenticated, .queueTokenMissing, .queueTokenInvalid: .unauthorized
        case .insufficientBalance: HTTPResponse.Status(code: 402, reasonPhrase: "Payment Required")
        case .forbidden, .queueTokenNotYours, .queueTokenWaiting, .queueTokenWrongPerformance: .forbidden
        case .routeNotFound, .performanceNotFound, .scheduleNotFound, .reservationNotFound: .notFound
        case .methodNotAllowed: .methodNotAllowed
        case .tooManyRequests: .tooManyRequests
        case .seatUnavailable, .saleNotOpen, .reservationNotPending, .reservationNotCancellable, .contended, .roomNotOpen, .soldOut,
            .drawPending:
            .conflict
        case .holdExpired, .queueTokenExpired: .gone
        case .bodyTooLarge: .contentTooLarge
        case .seatOutOfRange, .invalidSeatSelection, .cancellationClosed, .invalidRange, .invalidAmount, .amountOverLimit, .balanceOverLimit,
            .invalidPerformance, .invalidSchedule, .idempotencyKeyReused, .invalidRoom:
            .unprocessableContent
        case .serviceUnavailable: .serviceUnavailable
        case .internalError: .internalServerError
        }
    }

    /// Transient refusals: nothing changed, and the same request may succeed in a moment.
    var defaultRetryAfter: Int? {
        switch self {
        case .contended, .serviceUnavailable, .tooManyRequests: 1
        default: nil
        }
    }
}
