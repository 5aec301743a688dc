import NIOWebSocket
import Prometheus
public import ConvoSyncProtocol
public import Foundation
import HTTPTypes
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1

/// Fans events out to the WebSocket connections of each user.
public actor EventHub {
    struct Subscriber {
        var device: String?
        var continuation: AsyncStream<SessionSavedEvent>.Continuation
    }

    private var subscribers: [String: [UUID: Subscriber]] = [:]
    /// Connections per user at most (each is a socket and a task).
    public static let maxConnectionsPerUser = 64

    public init() {}

    /// A stream of the user's events, excluding those caused by `device` itself; nil when the
    /// user has too many connections already.
    public func subscribe(user: String, device: String?) -> (UUID, AsyncStream<SessionSavedEvent>)? {
        guard (subscribers[user]?.count ?? 0) < Self.maxConnectionsPerUser else { return nil }
        let id = UUID()
        let (stream, continuation) = AsyncStream<SessionSavedEvent>.makeStream(bufferingPolicy: .bufferingNewest(256))
        subscribers[user, default: [:]][id] = Subscriber(device: device, continuation: continuation)
        return (id, stream)
    }

    public func unsubscribe(user: String, id: UUID) {
        subscribers[user]?[id]?.continuation.finish()
        subscribers[user]?[id] = nil
        if subscribers[user]?.isEmpty == true { subscribers[user] = nil }
    }

    public func publish(user: String, from device: String?, event: SessionSavedEvent) {
        for subscriber in subscribers[user]?.values ?? [:].values where device == nil || subscriber.device != device {
            subscriber.continuation.yield(event)
        }
    }

    /// Ends the streams of one device (revoked): its connections close.
    public func disconnect(user: String, device: String) {
        for (id, subscriber) in subscribers[user] ?? [:] where subscriber.device == device {
            subscriber.continuation.finish()
            subscribers[user]?[id] = nil
        }
    }

    public var connectionCount: Int { subscribers.values.reduce(0) { $0 + $1.count } }

    /// Ends every stream (server shutdown).
    public func finishAll() {
        for (_, subs) in subscribers { for s in subs.values { s.continuation.finish() } }
        subscribers = [:]
    }
}

// MARK: WebSocket

extension Services {
    /// The upgrade decision for `GET /api/v1/account/events`: authenticated like any request
    /// (bearer or basic), needs the `read` scope. Anything else stays plain HTTP and reaches
    /// `respond`, which answers it (401, 404, …).
    func shouldUpgrade(_ request: HTTPRequest, channel: any Channel) async -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>> {
        guard request.path?.split(separator: "?").first == "/api/v1/account/events" else { return .dontUpgrade }
        let principal: Principal
        switch await authenticate(authorization: request.headerFields[.authorization]) {
        case .success(let p): principal = p
        case .failure(let refusal):
            // 401 (or 429) with the reason, as for any other request (API.md §15).
            await ConnectionGuard.refuseUpgrade(
                on: channel, status: HTTPResponseStatus(statusCode: refusal.status.code), message: "events need credentials: \(refusal.message)",
                headers: refusal.headers.map { ($0.name.rawName, $0.value) })
            return .dontUpgrade
        }
        guard principal.scopes.contains(.read) else {
            await ConnectionGuard.refuseUpgrade(on: channel, status: .forbidden, message: "this device token lacks the 'read' scope")
            return .dontUpgrade
        }
        let events = self.events
        let metrics = self.metrics
        return .upgrade([:]) { inbound, outbound, context in
            guard let (id, stream) = await events.subscribe(user: principal.user, device: principal.device) else {
                try await outbound.close(.policyViolation, reason: "too many connections for this user")
                return
            }
            metrics.webSocketConnections.increment()
            defer { metrics.webSocketConnections.decrement() }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    // Inbound frames are ignored; the loop ends when the client closes.
                    for try await _ in inbound {}
                }
                group.addTask {
                    for await event in stream {
                        try await outbound.write(.text(String(decoding: try encoder.encode(event), as: UTF8.self)))
                    }
                }
                if let expires = principal.expires {
                    // A token's connection ends when the token does.
                    group.addTask { try await Task.sleep(nanoseconds: UInt64(max(0, expires.timeIntervalSinceNow) * 1e9)) }
                }
                _ = try await group.next()
                group.cancelAll()
            }
            await events.unsubscribe(user: principal.user, id: id)
        }
    }
}
