import ConvoSyncStorage
public import ConvoSyncProtocol
import Foundation
import HTTPTypes
import HummingbirdWSClient
import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// The server's event stream (`/api/v1/account/events`) for the account a repository URL
/// authenticates as.
public enum EventStream {
    /// Connects and calls `handler` for each event until it answers false or the server closes
    /// the connection. Calls `connected` once the WebSocket is open.
    public static func listen(
        url: String, credentials: CredentialStore?, connected: @escaping @Sendable () async -> Void = {},
        handler: @escaping @Sendable (SessionSavedEvent) async throws -> Bool
    ) async throws {
        // The same credentials the repository's requests carry (URL user info, or the token).
        let repository = try RESTBackend(url: url, credentials: credentials)
        guard let origin = CredentialStore.origin(repository.location) else {
            throw StorageError(.invalidName, "'\(RESTBackend.redact(url))' is not an http(s) URL")
        }
        guard let authorization = repository.authorization else {
            throw StorageError(.permissionDenied, "no credentials for \(origin): put USER:PASSWORD in the URL or run `convosync login \(origin)`")
        }
        var headers = HTTPFields()
        headers[.authorization] = authorization
        // The WebSocket client has a connect timeout of its own (10 s): one plain request with
        // this process's timeouts first, so an unreachable server is told as quickly as by every
        // other command (NetworkTimeouts).
        _ = try await repository.send(.GET, origin + "/healthz", what: "follow events")
        let wsURL = (origin.hasPrefix("https") ? "wss" : "ws") + origin.drop(while: { $0 != ":" }) + "/api/v1/account/events"
        var logger = Logger(label: "convosync.events")
        logger.logLevel = .error
        let decoder = JSONDecoder()
        do {
            try await WebSocketClient.connect(url: wsURL, configuration: .init(additionalHeaders: headers), logger: logger) { inbound, outbound, _ in
                await connected()
                for try await message in inbound.messages(maxSize: 1 << 20) {
                    guard case .text(let text) = message, let event = try? decoder.decode(SessionSavedEvent.self, from: Data(text.utf8)) else { continue }
                    if try await !handler(event) { break }
                }
                try? await outbound.close(.normalClosure, reason: nil)
            }
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError(.unavailable, "cannot follow events at \(origin): \(error) (401 means the credentials were refused; run `convosync login \(origin)`)")
        }
    }
}

