public import AsyncHTTPClient
public import Foundation
public import NIOCore

/// How long a client waits on the network before it gives up: short enough that a phone on
/// a train falls back to the offline outbox in seconds, not minutes.
///
/// - `connect` (`CONVOSYNC_CONNECT_TIMEOUT`, seconds, default 5): to open a connection.
///   Connections that fail are not retried beyond this budget: a server that is down or
///   unreachable costs one connect timeout, not one per retry.
/// - `idle` (`CONVOSYNC_READ_TIMEOUT`, seconds, default 20): the longest silence while a
///   request is sent or its answer read. A large upload or download takes as long as it
///   needs while bytes move; a server that stops answering is given up after this.
///
/// Every command that talks HTTP (save, resume, push, sessions, login, devices, and the
/// repository commands over `rest:`) uses the client made from these, ``NetworkTimeouts/client``.
public struct NetworkTimeouts: Sendable, Equatable {
    public var connect: TimeAmount
    public var idle: TimeAmount

    public static let `default` = NetworkTimeouts(connect: .seconds(5), idle: .seconds(20))

    public init(connect: TimeAmount, idle: TimeAmount) { (self.connect, self.idle) = (connect, idle) }

    /// The defaults, overridden by `CONVOSYNC_CONNECT_TIMEOUT` / `CONVOSYNC_READ_TIMEOUT`
    /// (positive seconds, fractions allowed); a value that is not such a number is an error.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> NetworkTimeouts {
        var out = NetworkTimeouts.default
        if let text = environment["CONVOSYNC_CONNECT_TIMEOUT"] { out.connect = try seconds(text, "CONVOSYNC_CONNECT_TIMEOUT") }
        if let text = environment["CONVOSYNC_READ_TIMEOUT"] { out.idle = try seconds(text, "CONVOSYNC_READ_TIMEOUT") }
        return out
    }

    static func seconds(_ text: String, _ name: String) throws -> TimeAmount {
        guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value > 0, value <= 86_400 else {
            throw InvalidSetting(message: "\(name) must be a number of seconds between 0 and 86400, not '\(text.prefix(40))'")
        }
        return .nanoseconds(Int64(value * 1e9))
    }

    /// The longest a whole request may take (AsyncHTTPClient's deadline): long, because the
    /// idle timeout is what detects a dead server; this only ends a transfer that trickles.
    public static let deadline: TimeAmount = .hours(6)

    /// An HTTP client with these timeouts, that does not retry a failed connection on its own
    /// (AsyncHTTPClient's default retries until the request's deadline, which made an
    /// unreachable server cost minutes).
    public func makeClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: connect, read: idle, write: idle)
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.httpVersion = .http1Only
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    /// This process's timeouts, read once from the environment (the defaults if a value is
    /// invalid; ``fromEnvironment(_:)`` reports that as an error where the CLI starts).
    public static let current: NetworkTimeouts = (try? fromEnvironment()) ?? .default

    /// The process's client, with ``current``.
    public static let client: HTTPClient = current.makeClient()

    /// An AsyncHTTPClient error in words a user can act on.
    static func explain(_ error: any Error) -> String {
        guard let error = error as? HTTPClientError else { return "\(error)" }
        let seconds = { (t: TimeAmount) in String(format: "%g", Double(t.nanoseconds) / 1e9) }
        switch error {
        case .connectTimeout:
            return "no connection within \(seconds(current.connect)) s (CONVOSYNC_CONNECT_TIMEOUT); the server is down or unreachable from this network"
        case .readTimeout, .writeTimeout:
            return "the server went silent for \(seconds(current.idle)) s (CONVOSYNC_READ_TIMEOUT)"
        case .remoteConnectionClosed:
            return "the server closed the connection before it answered"
        case .deadlineExceeded:
            return "the transfer took longer than \(seconds(deadline)) s"
        default:
            return "\(error)"
        }
    }
}

/// A setting from the environment that is not valid (the message names it and what it must be).
public struct InvalidSetting: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
