import NIOCore
import NIOHTTP1

// The metrics service's HTTP: HTTP/1.1, one request per connection, then close.
//
//     GET /metrics (any query string)   200, text/plain; version=0.0.4, the Prometheus text format
//     GET anything else                 404
//     any other method (HEAD included)  405, Allow: GET
//     a request over 8 KiB              431, then close (headers and body together; a scrape is ~100 bytes)
//     malformed                         400 (NIO's HTTPServerProtocolErrorHandler)
//     nothing for 10 s                  closed (RequestTimeout) until the answer is under way
//     more than 16 connections at once  closed at accept (MetricsService)

/// The limits of the metrics HTTP server.
public struct MetricsHTTPLimits: Sendable {
    /// Most bytes a request may have, request line, headers and body together.
    public var requestBytes = 8192
    /// How long a client may take to send its request.
    public var requestTimeout = TimeAmount.seconds(10)
    /// Most connections served at once.
    public var connections = 16

    public init() {}
}

/// Answers one GET /metrics with what `scrape` renders, and everything else with an error; closes after one
/// answer.
final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum Answer {
        case metrics
        case error(HTTPResponseStatus)
    }

    /// Renders the exposition on the given event loop (the service counts the queue on a thread pool).
    private let scrape: @Sendable (any EventLoop) -> EventLoopFuture<[UInt8]>
    private var answer: Answer?
    private var isResponding = false

    init(scrape: @escaping @Sendable (any EventLoop) -> EventLoopFuture<[UInt8]>) {
        self.scrape = scrape
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            guard answer == nil else { return }
            let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            if head.method != .GET {
                answer = .error(.methodNotAllowed)
            } else if path != "/metrics" {
                answer = .error(.notFound)
            } else {
                answer = .metrics
            }
        case .body:
            break
        case .end:
            guard let answer, !isResponding else { return }
            isResponding = true
            switch answer {
            case .metrics:
                let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
                scrape(context.eventLoop).whenComplete { result in
                    switch result {
                    case .success(let body):
                        Self.respond(
                            loopBound.value, .ok, contentType: "text/plain; version=0.0.4; charset=utf-8", body: body)
                    case .failure:
                        Self.respond(loopBound.value, .internalServerError, body: Array("scrape failed\n".utf8))
                    }
                }
            case .error(let status):
                Self.respond(context, status, body: Array("\(status.code) \(status.reasonPhrase)\n".utf8))
            }
        }
    }

    /// A malformed request (HTTPServerProtocolErrorHandler has answered 400) or a broken connection: close.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read, !isResponding {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private static func respond(
        _ context: ChannelHandlerContext, _ status: HTTPResponseStatus,
        contentType: String = "text/plain; charset=utf-8", body: [UInt8]
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.count))
        headers.add(name: "Connection", value: "close")
        if status == .methodNotAllowed { headers.add(name: "Allow", value: "GET") }
        let head = HTTPResponseHead(version: .http1_1, status: status, headers: headers)
        context.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
        context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))),
            promise: nil)
        let channel = context.channel
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }
}

/// Before the HTTP decoder: counts a connection's bytes and, past the limit, answers 431 and closes. (One
/// request per connection, so a connection's bytes are its request's.)
final class RequestSizeLimiter: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let limit: Int
    private var received = 0
    private var isOver = false

    init(limit: Int) { self.limit = limit }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !isOver else { return }
        received += unwrapInboundIn(data).readableBytes
        guard received > limit else {
            context.fireChannelRead(data)
            return
        }
        isOver = true
        let reply = "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: reply))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }
}

extension MetricsHTTPHandler {
    /// Adds the metrics HTTP handlers to a new connection's pipeline (in its event loop).
    static func configure(
        _ channel: any Channel, limits: MetricsHTTPLimits,
        scrape: @escaping @Sendable (any EventLoop) -> EventLoopFuture<[UInt8]>
    ) throws {
        let operations = channel.pipeline.syncOperations
        try operations.addHandler(RequestSizeLimiter(limit: limits.requestBytes))
        try operations.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: true)
        try operations.addHandler(IdleStateHandler(readTimeout: limits.requestTimeout))
        try operations.addHandler(MetricsHTTPHandler(scrape: scrape))
    }
}
