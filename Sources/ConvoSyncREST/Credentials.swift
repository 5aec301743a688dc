public import ConvoSyncProtocol
public import AsyncHTTPClient
public import ConvoSyncStorage
import Foundation
import NIOCore
import NIOHTTP1

/// Device tokens from `convosync login`, one per server origin (`scheme://host:port`), in
/// `$XDG_CONFIG_HOME/convosync/credentials.json` (default `~/.config/convosync/`), mode 0600.
/// A repository URL without a user name uses the token stored for its origin.
public struct CredentialStore: Sendable {
    public let path: String

    public struct Entry: Codable, Sendable, Equatable {
        public var user: String
        public var token: String
        public var device: String
        public var name: String
        public var scopes: [String]
        public var expires: String
    }

    public init(path: String) { self.path = path }

    public init(environment: [String: String]) {
        let base: String
        if let xdg = environment["XDG_CONFIG_HOME"], !xdg.isEmpty {
            base = xdg
        } else {
            base = ((environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()) as NSString).appendingPathComponent(".config")
        }
        path = (base as NSString).appendingPathComponent("convosync/credentials.json")
    }

    /// `http://host:port` for any URL on that server (a `rest:` prefix and user info dropped).
    public static func origin(_ url: String) -> String? {
        let raw = url.hasPrefix("rest:") ? String(url.dropFirst(5)) : url
        guard let c = URLComponents(string: raw), let scheme = c.scheme?.lowercased(), scheme == "http" || scheme == "https", let host = c.host?.lowercased() else { return nil }
        let port = c.port ?? (scheme == "https" ? 443 : 80)
        return "\(scheme)://\(host):\(port)"
    }

    public func all() -> [String: Entry] {
        guard let data = FileManager.default.contents(atPath: path) else { return [:] }
        return (try? JSONDecoder().decode([String: Entry].self, from: data)) ?? [:]
    }

    public func entry(for url: String) -> Entry? {
        Self.origin(url).flatMap { all()[$0] }
    }

    /// Stores (or with nil, forgets) the token for `url`'s server; the file is written 0600
    /// and renamed into place.
    public func set(_ entry: Entry?, for url: String) throws {
        guard let origin = Self.origin(url) else { throw StorageError(.invalidName, "'\(RESTBackend.redact(url))' is not an http(s) URL") }
        var entries = all()
        entries[origin] = entry
        let dir = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(entries)
        try AtomicFile.write(data, to: path, mode: 0o600)
    }
}

/// The account endpoints (`/api/v1/account/…`) of a convosync server.
public struct AccountClient: Sendable {
    public let origin: String
    let client: HTTPClient

    public init(url: String, client: HTTPClient = NetworkTimeouts.client) throws(StorageError) {
        guard let origin = CredentialStore.origin(url) else { throw StorageError(.invalidName, "'\(RESTBackend.redact(url))' is not an http(s) URL") }
        self.origin = origin
        self.client = client
    }

    func request(_ method: HTTPMethod, _ path: String, authorization: String, body: [UInt8]? = nil) async throws -> (Int, [UInt8]) {
        var request = HTTPClientRequest(url: origin + "/api/v1/account/" + path)
        request.method = method
        request.headers.add(name: "Authorization", value: authorization)
        if let body {
            request.body = .bytes(ByteBuffer(bytes: body))
            request.headers.add(name: "Content-Type", value: "application/json")
        }
        do {
            let response = try await client.execute(request, timeout: .seconds(120))
            let bytes = try await response.body.collect(upTo: 16 << 20)
            return (Int(response.status.code), Array(buffer: bytes))
        } catch {
            throw StorageError(.unavailable, "cannot reach \(origin): \(NetworkTimeouts.explain(error))")
        }
    }

    static func message(_ body: [UInt8]) -> String {
        String(decoding: body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Logs in with the account password; answers the new device's stored entry.
    public func login(user: String, password: String, device: String, scopes: [String], days: Int?) async throws -> CredentialStore.Entry {
        let input = LoginRequest(device: device, scopes: scopes, expiresInDays: days)
        let basic = "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
        let (status, body) = try await request(.POST, "login", authorization: basic, body: Wire.encode(input))
        switch status {
        case 200: break
        case 401: throw StorageError(.permissionDenied, "login refused: \(Self.message(body))")
        case 403: throw StorageError(.permissionDenied, Self.message(body))
        case 429: throw StorageError(.permissionDenied, Self.message(body))
        case 404: throw StorageError(.notFound, "\(origin) has no account API; is it a convosync-server?")
        default: throw StorageError(.io, "login: HTTP \(status) \(Self.message(body))")
        }
        guard let answer = try? Wire.decode(LoginAnswer.self, body) else {
            throw StorageError(.io, "login: the server's answer has no token")
        }
        return CredentialStore.Entry(user: user, token: answer.token, device: answer.device, name: answer.name, scopes: answer.scopes, expires: answer.expires)
    }

    public func devices(token: String) async throws -> [DeviceEntry] {
        let (status, body) = try await request(.GET, "devices", authorization: "Bearer " + token)
        guard status == 200 else { throw StorageError(status == 401 ? .permissionDenied : .io, "devices: HTTP \(status) \(Self.message(body))") }
        do { return try Wire.decode([DeviceEntry].self, body) } catch {
            throw StorageError(.io, "devices: the server's answer is not a device list")
        }
    }

    public func revoke(_ id: String, token: String) async throws {
        guard id.allSatisfy({ $0.isHexDigit }), !id.isEmpty else { throw StorageError(.invalidName, "'\(id)' is not a device id (see `convosync devices list`)") }
        let (status, body) = try await request(.DELETE, "devices/" + id, authorization: "Bearer " + token)
        switch status {
        case 200: return
        case 404: throw StorageError(.notFound, Self.message(body))
        default: throw StorageError(status == 401 ? .permissionDenied : .io, "revoke: HTTP \(status) \(Self.message(body))")
        }
    }
}
