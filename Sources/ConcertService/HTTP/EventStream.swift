import Foundation
import HTTPTypes
import Hummingbird
import ServiceLifecycle

/// A Server-Sent Events answer (`text/event-stream`): `events` writes the stream's events
/// until it returns, and then the stream closes.
struct EventStream {
    /// What `events` writes with.
    struct Writer {
        fileprivate var writer: any ResponseBodyWriter
        fileprivate let waiter = TickSignal.Waiter()

        /// Waits for the signal's next round; false when the stream is to end instead: the
        /// server is shutting down (it waits for every open answer), or the client has gone.
        func next(_ signal: TickSignal) async -> Bool {
            await signal.next(waiter)
        }

        /// An event whose data is `json` (one line: the API's JSON has no line breaks).
        mutating func send(_ name: String, id: Int64? = nil, json: some Encodable) async throws {
            try await send(EventStream.event(name, id: id, json: json))
        }

        /// An event made by `event(_:id:json:)`.
        mutating func send(_ event: ByteBuffer) async throws {
            try await writer.write(event)
        }
    }

    /// Comment lines at least this often.
    static let heartbeatInterval: TimeInterval = 15

    /// A comment line: it keeps the connection and any proxy on the way from timing out.
    static let heartbeat = ByteBuffer(string: ": heartbeat\n\n")

    /// The bytes of an event whose data is `json`.
    static func event(_ name: String, id: Int64? = nil, json: some Encodable) throws -> ByteBuffer {
        var text = id.map { "id: \($0)\n" } ?? ""
        text += "event: \(name)\ndata: "
        text += String(decoding: try APIJSON.encoder.encode(json), as: UTF8.self)
        text += "\n\n"
        return ByteBuffer(string: text)
    }

    static func response(_ events: @escaping @Sendable (inout Writer) async throws -> Void) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no"],
            body: ResponseBody { bodyWriter in
                var writer = Writer(writer: bodyWriter)
                try await withTaskCancellationOrGracefulShutdownHandler {
                    try await events(&writer)
                } onCancelOrGracefulShutdown: { [waiter = writer.waiter] in
                    waiter.end()
                }
                try await writer.writer.finish(nil)
            })
    }
}

extension Request {
    /// The queue token from the Queue-Token header or, for a browser's EventSource (which
    /// cannot set headers), the `queue_token` query parameter.
    var streamQueueToken: String? {
        queueToken ?? uri.queryParameters["queue_token"].map(String.init)
    }
}
