import HummingbirdCore
public import Logging
public import NIOCore
import NIOHTTP1

/// Answers or closes every connection that does not speak HTTP/1.1 properly, and bounds how
/// long a client may hold a connection without sending a request, so an unauthenticated client
/// cannot hold the server's file descriptors:
///
/// - a request the HTTP parser rejects (a NUL or raw non-ASCII byte in the request line, a
///   space in the path, a header without a colon, conflicting `Content-Length` and
///   `Transfer-Encoding`, the HTTP/2 preface, …) gets `400 Bad Request`, and headers over the
///   decoder's limits (size or count) get `431 Request Header Fields Too Large`; then the
///   connection closes;
/// - a connection that has not sent a complete request head within `headerTimeout` of opening,
///   or within `idleTimeout` of the end of its previous answer, is closed; so is one that
///   goes silent for `idleTimeout` while sending a request body. (Hummingbird's own idle
///   timeout is not used: it is added only once a connection's first request has been
///   looked at for a WebSocket upgrade, and under load it could fire while that request was
///   still being answered, leaving the connection open and the request unanswered.)
///
/// It sits right after the HTTP request decoder (whose errors it sees) and before
/// Hummingbird's handlers; once a connection is upgraded to a WebSocket it steps aside.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    let headerTimeout: TimeAmount
    let idleTimeout: TimeAmount
    /// While `armed`, the connection is closed once `limit` has passed since `lastRead`: reads
    /// of a request body move `lastRead`; while a request head is awaited nothing does, so the
    /// head must arrive whole within the limit. Arming and disarming only set these; the one
    /// timer checks them when it fires and schedules itself again if need be, so a request
    /// costs no timer scheduling or cancelling of its own.
    private var armed = false
    private var limit: TimeAmount = .seconds(10)
    private var lastRead = NIODeadline.now()
    private var timer: (task: Scheduled<Void>, due: NIODeadline)?
    /// A response has started and not ended: no 400 can be sent now.
    private var answering = false
    /// Request heads received whose responses have not ended (more than one when pipelined):
    /// the wait for a next request head starts only when this is back to 0.
    private var inFlight = 0
    /// The connection was upgraded (101): nothing passing by is HTTP any more.
    private var upgraded = false
    /// Set by ``refuseUpgrade(on:status:message:)``: the answer to send instead of the empty 400
    /// that Hummingbird writes for a WebSocket upgrade it was told not to make.
    private var refusal: (status: HTTPResponseStatus, message: String, headers: [(String, String)])?
    private var refusalBody: ByteBuffer?

    /// Makes the next refused WebSocket upgrade on `channel` answer `status` and `message`
    /// (e.g. 401 for missing credentials, as API.md §15 says) instead of an empty 400.
    static func refuseUpgrade(on channel: any Channel, status: HTTPResponseStatus, message: String, headers: [(String, String)] = []) async {
        try? await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.handler(type: ConnectionGuard.self).refusal = (status, message, headers)
        }.get()
    }

    init(headerTimeout: TimeAmount, idleTimeout: TimeAmount) {
        (self.headerTimeout, self.idleTimeout) = (headerTimeout, idleTimeout)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context, headerTimeout) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context, headerTimeout)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { stop() }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    private func arm(_ context: ChannelHandlerContext, _ after: TimeAmount) {
        (armed, limit, lastRead) = (true, after, .now())
        let due = lastRead + after
        if let timer, timer.due <= due { return }  // it fires first and checks again
        schedule(context, at: due)
    }

    private func disarm() { armed = false }

    private func stop() {
        armed = false
        timer?.task.cancel()
        timer = nil
    }

    private func schedule(_ context: ChannelHandlerContext, at due: NIODeadline) {
        timer?.task.cancel()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let task = context.eventLoop.scheduleTask(deadline: due) {
            let (handler, context) = loopBound.value
            handler.timer = nil
            guard handler.armed else { return }
            let due = handler.lastRead + handler.limit
            guard due <= .now() else { return handler.schedule(context, at: due) }
            // No request head in time, or a body that stopped: close without answering.
            context.close(promise: nil)
        }
        timer = (task, due)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !upgraded {
            switch unwrapInboundIn(data) {
            case .head:
                inFlight += 1
                arm(context, idleTimeout)  // the body, if any, must keep coming
            case .body:
                lastRead = .now()
            case .end:
                disarm()  // the server's turn: no limit while it answers
            }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !upgraded else { return context.write(data, promise: promise) }
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status == .switchingProtocols:
            upgraded = true
            stop()
        case .head(let head) where head.status == .badRequest:
            answering = true
            if let (status, message, extra) = refusal {
                // Hummingbird's empty 400 for a refused upgrade: say why instead.
                refusal = nil
                var body = context.channel.allocator.buffer(capacity: message.utf8.count + 1)
                body.writeString(message + "\n")
                var headers = head.headers
                headers.replaceOrAdd(name: "Content-Length", value: String(body.readableBytes))
                headers.replaceOrAdd(name: "Content-Type", value: "text/plain; charset=utf-8")
                headers.replaceOrAdd(name: "X-ConvoSync-API", value: "1")
                for (name, value) in extra { headers.replaceOrAdd(name: name, value: value) }
                refusalBody = body
                return context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: promise)
            }
        case .head(let head) where head.status.code >= 200:
            answering = true
        case .end:
            if let body = refusalBody {
                refusalBody = nil
                context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            }
            answering = false
            inFlight = max(0, inFlight - 1)
            if inFlight == 0 { arm(context, idleTimeout) }
        default:
            break
        }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !upgraded, let parse = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        disarm()
        if !answering {
            let (status, text): (HTTPResponseStatus, String) = parse == .headerOverflow
                ? (.requestHeaderFieldsTooLarge, "the request's headers are larger or more numerous than this server accepts\n")
                : (.badRequest, "the request is not valid HTTP/1.1 (\(parse))\n")
            var body = context.channel.allocator.buffer(capacity: text.utf8.count)
            body.writeString(text)
            let headers = HTTPHeaders([
                ("Connection", "close"), ("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", String(body.readableBytes)),
                ("X-ConvoSync-API", "1"),
            ])
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            answering = true
        }
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in loopBound.value.close(promise: nil) }
    }
}

/// Any child channel (HTTP/1 with the WebSocket upgrade, over TLS or not) with a
/// ``ConnectionGuard`` after its HTTP request decoder.
struct GuardedChannel<Inner: ServerChildChannel>: ServerChildChannel {
    typealias Value = Inner.Value
    let inner: Inner
    let headerTimeout: TimeAmount
    let idleTimeout: TimeAmount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let decoder = try channel.pipeline.syncOperations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try channel.pipeline.syncOperations.addHandler(
                ConnectionGuard(headerTimeout: headerTimeout, idleTimeout: idleTimeout), position: .after(decoder))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}
