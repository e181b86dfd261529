import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

/// Hummingbird's HTTP/1.1 channel with what a server facing the internet also needs:
/// - a connection idle for `idleTimeout` between requests is closed (Hummingbird's own timer);
/// - a request whose headers are still incomplete `headerTimeout` after its first byte is cut
///   off, so a client that trickles its headers cannot hold a connection for ever;
/// - an HTTP/1.0 request without `Connection: keep-alive` closes its connection after the
///   answer, as HTTP/1.0 clients expect (Hummingbird only looks at `Connection: close`).
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let http1: HTTP1Channel
    let headerTimeout: TimeAmount

    init(responder: @escaping HTTPChannelHandler.Responder, idleTimeout: Duration, headerTimeout: Duration) {
        http1 = HTTP1Channel(responder: responder, configuration: .init(idleTimeout: TimeAmount(idleTimeout)))
        self.headerTimeout = TimeAmount(headerTimeout)
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        http1.setup(channel: channel, logger: logger).flatMapThrowing { [headerTimeout] value in
            let pipeline = channel.pipeline.syncOperations
            let deadline = HeaderDeadline(timeout: headerTimeout)
            // First in the pipeline: it sees the raw bytes, so it knows when a request starts.
            try pipeline.addHandler(deadline, position: .first)
            // Between NIO's HTTP/1 decoder and the conversion to HTTP types, which drops the version.
            let decoder = try pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try pipeline.addHandler(RequestHeadWatcher(deadline: deadline), position: .after(decoder))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await http1.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with the connection guards of `GuardedHTTP1Channel`.
    static func guardedHTTP1(idleTimeout: Duration, headerTimeout: Duration) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            GuardedHTTP1Channel(responder: responder, idleTimeout: idleTimeout, headerTimeout: headerTimeout)
        }
    }
}

/// Starts a timer at the first byte of each request and closes the connection if the request's
/// headers are not complete when it fires. `RequestHeadWatcher` reports the headers and the end
/// of each answer (after which the next request may start).
final class HeaderDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let timeout: TimeAmount
    private var awaitingHead = true
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if awaitingHead, timer == nil {
            let channel = context.channel
            timer = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimer()
    }

    /// The request's headers are all in.
    func headReceived() {
        awaitingHead = false
        cancelTimer()
    }

    /// The answer is written: the next bytes start a new request.
    func answerWritten() {
        awaitingHead = true
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
    }
}

/// Sees each request head while the HTTP version is still known.
final class RequestHeadWatcher: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let deadline: HeaderDeadline

    init(deadline: HeaderDeadline) {
        self.deadline = deadline
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data) else {
            context.fireChannelRead(data)
            return
        }
        deadline.headReceived()
        // HTTP/1.0 closes by default; saying so in the header is how Hummingbird learns it.
        if !head.isKeepAlive, !head.headers[canonicalForm: "connection"].contains(where: { $0.lowercased() == "close" }) {
            head.headers.replaceOrAdd(name: "connection", value: "close")
        }
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { deadline.answerWritten() }
        context.write(data, promise: promise)
    }
}
