import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

@testable import ConcertService

#if canImport(Glibc)
import Glibc
#endif

/// A TCP proxy in front of the test database, to make outages on demand: the service connects
/// through it, and the test cuts it off, makes it silent, or makes it lose the answers to
/// statements after a COMMIT (a payment that committed but whose answer never came back).
final class DatabaseProxy: @unchecked Sendable {
    enum Mode: Sendable {
        /// Bytes flow both ways.
        case forwarding
        /// Existing connections are closed and new ones are refused (a stopped database).
        case refusing
        /// Connections are accepted but nothing gets through either way (a lost network).
        case silent
        /// On each connection, answers stop coming back once the client has sent a COMMIT.
        case losingAnswersAfterCommit
    }

    let port: Int
    private let server: any Channel
    private let state = NIOLockedValueBox((mode: Mode.forwarding, connections: [any Channel]()))

    /// A proxy on 127.0.0.1 to `host:port`.
    static func start(to host: String, port: Int) async throws -> DatabaseProxy {
        try await DatabaseProxy(targetHost: host, targetPort: port)
    }

    private init(targetHost: String, targetPort: Int) async throws {
        let box = NIOLockedValueBox<DatabaseProxy?>(nil)
        server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { client in
                guard let proxy = box.withLockedValue({ $0 }) else { return client.close() }
                return proxy.connect(client, to: targetHost, port: targetPort)
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = server.localAddress?.port ?? 0
        box.withLockedValue { $0 = self }
    }

    var mode: Mode { state.withLockedValue(\.mode) }

    /// Switches mode. Every connection open now is closed, as an outage or its end would,
    /// except when answers start to get lost: that happens on the connections in use.
    func set(_ mode: Mode) {
        let open = state.withLockedValue { state in
            state.mode = mode
            guard mode != .losingAnswersAfterCommit else { return [any Channel]() }
            defer { state.connections.removeAll() }
            return state.connections
        }
        for channel in open { channel.close(promise: nil) }
    }

    func stop() async {
        set(.refusing)
        try? await server.close()
    }

    private func connect(_ client: any Channel, to host: String, port: Int) -> EventLoopFuture<Void> {
        guard mode != .refusing else { return client.close() }
        let link = Link()
        return ClientBootstrap(group: client.eventLoop).connect(host: host, port: port).flatMap { upstream in
            self.state.withLockedValue { $0.connections += [client, upstream] }
            return client.pipeline.addHandler(Forwarder(proxy: self, link: link, toServer: true, partner: upstream))
                .flatMap { upstream.pipeline.addHandler(Forwarder(proxy: self, link: link, toServer: false, partner: client)) }
                .flatMap { client.setOption(.autoRead, value: true) }
        }
    }

    /// What one proxied connection has seen.
    private final class Link: @unchecked Sendable {
        let sawCommit = NIOLockedValueBox(false)
    }

    private final class Forwarder: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer

        let proxy: DatabaseProxy
        let link: Link
        let toServer: Bool
        let partner: any Channel

        init(proxy: DatabaseProxy, link: Link, toServer: Bool, partner: any Channel) {
            self.proxy = proxy
            self.link = link
            self.toServer = toServer
            self.partner = partner
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let bytes = unwrapInboundIn(data)
            switch proxy.mode {
            case .forwarding: break
            case .refusing, .silent: return
            case .losingAnswersAfterCommit:
                if toServer {
                    if String(buffer: bytes).contains("COMMIT") { link.sawCommit.withLockedValue { $0 = true } }
                } else if link.sawCommit.withLockedValue({ $0 }) {
                    return
                }
            }
            partner.writeAndFlush(bytes, promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            partner.close(promise: nil)
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}

/// One plain TCP connection to a test server, for what an HTTP client library would not send:
/// HTTP/1.0, headers that never finish, a body cut short. Blocking calls run on a thread of
/// their own, off Swift's cooperative pool that the server also runs on.
final class RawConnection: @unchecked Sendable {
    private let socket: Int32

    init(port: Int) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw RawConnectionError("connect failed: errno \(errno)") }
    }

    deinit { Glibc.close(socket) }

    func send(_ text: String) throws {
        let sent = text.utf8CString.withUnsafeBufferPointer { Glibc.send(socket, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL)) }
        guard sent == text.utf8.count else { throw RawConnectionError("send failed: errno \(errno)") }
    }

    /// Everything the server sends until it closes the connection, `until` is found in what
    /// it sent, or `limit` passes; and whether it closed.
    func readUntilClosed(limit: Duration, until marker: String? = nil) async -> (text: String, closed: Bool) {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: self.readBlocking(limit: limit, until: marker)) }.start()
        }
    }

    private func readBlocking(limit: Duration, until marker: String?) -> (text: String, closed: Bool) {
        let deadline = ContinuousClock.now + limit
        var received = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let left = deadline - ContinuousClock.now
            let text = String(decoding: received, as: UTF8.self)
            if let marker, text.contains(marker) { return (text, false) }
            guard left > .zero else { return (text, false) }
            var poller = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(max(1, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
            guard poll(&poller, 1, milliseconds) > 0 else { continue }
            let count = recv(socket, &buffer, buffer.count, 0)
            if count <= 0 { return (String(decoding: received, as: UTF8.self), true) }
            received += buffer.prefix(count)
        }
    }
}

/// A socket listening on a port of 127.0.0.1 that nobody answers: a port in use.
final class RawListener: @unchecked Sendable {
    private let socket: Int32
    let port: Int

    init() throws {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.socket = socket
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socket, $0, length) == 0 && listen(socket, 8) == 0 && getsockname(socket, $0, &length) == 0
            }
        }
        guard listening else { throw RawConnectionError("listen failed: errno \(errno)") }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { Glibc.close(socket) }
}

struct RawConnectionError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Log lines written by a test's service, to check what an operator would read.
final class LogLines: TextOutputStream, @unchecked Sendable {
    private let lock = NSLock()
    private var text = ""

    func write(_ string: String) { lock.withLock { text += string } }
    var written: String { lock.withLock { text } }
    var lines: [Substring] { written.split(separator: "\n") }

    func logger(level: Logger.Level) -> Logger {
        var logger = Logger(label: "concert") { label in
            DeferredMetadataLogHandler(output: StreamLogHandler(label: label, stream: self, metadataProvider: nil))
        }
        logger.logLevel = level
        return logger
    }
}

/// Polls `condition` every `interval` until it holds or `limit` passes; whether it held.
func eventually(
    within limit: Duration, every interval: Duration = .milliseconds(50), _ condition: () async throws -> Bool
) async throws -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: interval)
    }
    return try await condition()
}
