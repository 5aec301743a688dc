public import Foundation

// Every JSON body of Format/API.md, as one set of Codable types that the server encodes and
// the client decodes (and the other way round). Field names are the wire's; optional fields
// are omitted when absent. Encode with ``Wire/encoder``, so keys are sorted as they always were.

public enum Wire {
    /// Sorted keys, slashes unescaped (base64 is full of them).
    public static var encoder: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }

    public static func encode(_ value: some Encodable) -> [UInt8] {
        Array(try! encoder.encode(value))  // invariant: wire types hold only strings, numbers, booleans, data and arrays of them
    }

    public static func decode<T: Decodable>(_ type: T.Type, _ bytes: some Sequence<UInt8>) throws -> T {
        try JSONDecoder().decode(type, from: Data(bytes))
    }
}

/// One entry of a version 2 listing (restic's REST protocol: `Accept: application/vnd.x.restic.rest.v2`).
public struct FileListEntry: Codable, Sendable, Equatable {
    public var name: String
    public var size: Int
    public init(name: String, size: Int) { (self.name, self.size) = (name, size) }
}

/// `GET sessions` (API.md §Sessions): what a device needs to choose a session.
public struct SessionList: Codable, Sendable {
    public struct Key: Codable, Sendable {
        public var name: String
        public var data: Data
        public init(name: String, data: Data) { (self.name, self.data) = (name, data) }
    }

    /// A conversation's newest ref version and the session file it names.
    public struct Head: Codable, Sendable {
        public var ref: String
        public var version: Int
        public var session: String
        /// The session file's bytes (encrypted), when the server holds it.
        public var data: Data?
        public init(ref: String, version: Int, session: String, data: Data?) { (self.ref, self.version, self.session, self.data) = (ref, version, session, data) }
    }

    public var config: Data?
    public var keys: [Key]
    public var heads: [Head]
    public init(config: Data?, keys: [Key], heads: [Head]) { (self.config, self.keys, self.heads) = (config, keys, heads) }
}

/// `POST sessions/resume`: the session wanted and the files (`type/name`) the device holds.
public struct ResumeRequest: Codable, Sendable {
    public var session: String
    public var have: [String]?
    public init(session: String, have: [String]?) { (self.session, self.have) = (session, have) }
}

/// `POST conversations/<ref>/sync`: what the device holds and the ref version it knows.
public struct SyncRequest: Codable, Sendable {
    public var have: [String]?
    public var after: Int?
    public init(have: [String]? = nil, after: Int? = nil) { (self.have, self.after) = (have, after) }
}

/// A ref's head: the answer to a sync that is up to date (`upToDate` true), and the body of a
/// 409 to a save whose ref moved on (`version` and `target` absent when the ref has no version).
public struct RefState: Codable, Sendable, Equatable {
    public var ref: String
    public var version: Int?
    public var target: String?
    public var upToDate: Bool?
    public init(ref: String, version: Int?, target: String?, upToDate: Bool? = nil) {
        (self.ref, self.version, self.target, self.upToDate) = (ref, version, target, upToDate)
    }
}

/// `POST sessions/save` answered 200: files newly stored, and the ref version written (if the
/// bundle had one).
public struct SaveAnswer: Codable, Sendable {
    public var stored: Int
    public var ref: String?
    public init(stored: Int, ref: String?) { (self.stored, self.ref) = (stored, ref) }
}

/// A bundle's `manifest` entry (API.md §Manifest): the session's parent and the stored files
/// (`type/name`) it reuses.
public struct ManifestDeclaration: Codable, Sendable, Equatable {
    public var parent: String?
    public var needs: [String]
    public init(parent: String?, needs: [String]) { (self.parent, self.needs) = (parent, needs) }
}

/// `POST /api/v1/account/login`.
public struct LoginRequest: Codable, Sendable {
    public var device: String?
    public var scopes: [String]?
    public var expiresInDays: Int?
    public init(device: String? = nil, scopes: [String]? = nil, expiresInDays: Int? = nil) {
        (self.device, self.scopes, self.expiresInDays) = (device, scopes, expiresInDays)
    }
}

/// The answer to a login: the new device and its token.
public struct LoginAnswer: Codable, Sendable {
    public var token: String
    public var device: String
    public var name: String
    public var user: String
    public var scopes: [String]
    public var expires: String
    public init(token: String, device: String, name: String, user: String, scopes: [String], expires: String) {
        (self.token, self.device, self.name, self.user, self.scopes, self.expires) = (token, device, name, user, scopes, expires)
    }
}

/// One entry of `GET /api/v1/account/devices`.
public struct DeviceEntry: Codable, Sendable {
    public var id: String
    public var name: String
    public var scopes: [String]
    public var created: String
    public var expires: String
    public var lastSeen: String?
    /// True for the device whose token asked.
    public var current: Bool?
    public init(id: String, name: String, scopes: [String], created: String, expires: String, lastSeen: String?, current: Bool?) {
        (self.id, self.name, self.scopes, self.created, self.expires, self.lastSeen, self.current) = (id, name, scopes, created, expires, lastSeen, current)
    }
}

/// `DELETE /api/v1/account/devices/<id>` answered 200.
public struct RevokeAnswer: Codable, Sendable {
    public var revoked: String
    public init(revoked: String) { self.revoked = revoked }
}

/// "A session was saved": what the server pushes to a user's other devices over the events
/// WebSocket (API.md §Events). Opaque names only (the repository directory, the ref's HMAC
/// name, the session file's name); nothing a device could not already list.
public struct SessionSavedEvent: Codable, Sendable, Equatable {
    public var type = "session.saved"
    public var repository: String
    public var ref: String
    public var version: Int
    public var session: String

    public init(repository: String, ref: String, version: Int, session: String) {
        (self.repository, self.ref, self.version, self.session) = (repository, ref, version, session)
    }
}

/// A repository on a convosync-server: `/<user>/<repo>/` for files (restic's REST protocol),
/// `/api/v1/<user>/<repo>/` for the session API.
public struct RepositoryPath: Sendable, Equatable {
    public var user: String
    public var repo: String
    public init(user: String, repo: String) { (self.user, self.repo) = (user, repo) }

    /// The session API's root for a repository URL `…/<user>/<repo>/` (scheme, host and any
    /// prefix kept): `…/api/v1/<user>/<repo>/`; nil when the URL has no two path components.
    public static func apiRoot(of base: String) -> String? {
        guard let url = URL(string: base), url.pathComponents.count >= 3 else { return nil }
        let parts = url.pathComponents.filter { $0 != "/" }
        let prefix = base.dropLast(url.path.count + (base.hasSuffix("/") && !url.path.hasSuffix("/") ? 1 : 0))
        return String(prefix) + "/api/v1/" + parts.suffix(2).joined(separator: "/") + "/"
    }
}
