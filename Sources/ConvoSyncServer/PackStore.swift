public import ConvoSyncFormat
public import ConvoSyncStorage
import Crypto
public import NIOCore
public import Hummingbird
public import HTTPTypes
public import Foundation
#if canImport(Glibc)
import Glibc
import CoreFoundation  // owns `struct stat` once NIOSSL is in the build (MemberImportVisibility)
#endif

/// Why a request against the pack store failed, mapped to an HTTP status by the responder.
/// The server's one error type: every refusal and failure, with the HTTP status it is
/// answered with (a plain-text body: the message) and any headers that go with it.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case notFound, exists, badRequest, tooLarge, insufficientStorage, forbidden, io, unavailable, unauthorized, tooManyRequests }
    public var kind: Kind
    public var message: String
    public var headers: HTTPFields = [:]
    public init(_ kind: Kind, _ message: String, headers: HTTPFields = [:]) { (self.kind, self.message, self.headers) = (kind, message, headers) }
    public var description: String { message }

    /// 401 with the challenge basic authentication needs.
    static func unauthorized(_ message: String) -> StoreError {
        StoreError(.unauthorized, message, headers: [.wwwAuthenticate: "Basic realm=\"convosync\""])
    }

    public var status: HTTPResponse.Status {
        switch kind {
        case .notFound: .notFound
        case .exists, .forbidden: .forbidden
        case .badRequest: .badRequest
        case .tooLarge: .contentTooLarge
        case .insufficientStorage: .init(code: 507, reasonPhrase: "Insufficient Storage")
        case .io: .internalServerError
        case .unavailable: .serviceUnavailable
        case .unauthorized: .unauthorized
        case .tooManyRequests: .tooManyRequests
        }
    }

    /// The answer: status, headers, the message as text.
    public var response: Response { Services.text(status, message, headers: headers) }
}

extension StoreError: HTTPResponseError {
    public func response(from request: Request, context: some RequestContext) throws -> Response { response }
}

/// One repository's files in the server's ``ObjectStore``, in the layout of Format/SPEC.md
/// §Layout (which is restic's): `config`, `data/XX/<id>`, `keys/`, `locks/`, `snapshots/`,
/// `index/`, ConvoSync's `sessions/` and `refs/`, and the server's own `manifests/` and
/// `conversations/`.
///
/// Uploads stream to a staged temporary file while their SHA-256 is computed; only when the
/// hash matches the name is the file committed (write-once: an existing name is never
/// replaced). Nothing partial is ever visible.
public struct RepositoryStore: Sendable {
    public let objects: any ObjectStore
    public let user: String
    public let name: String

    public init(objects: any ObjectStore, user: String, name: String) {
        (self.objects, self.user, self.name) = (objects, user, name)
    }

    public static let types: [FileType] = [.key, .pack, .index, .snapshot, .lock, .session, .ref]

    var prefix: String { "\(user)/\(name)/" }
    func key(_ handle: Handle) -> String { prefix + handle.relativePath }
    /// A server-side file (`manifests/<session>`, `conversations/<ref>`).
    func key(_ relative: String) -> String { prefix + relative }

    public func exists() async throws -> Bool { try await objects.repositoryExists(prefix) }

    /// Creates the repository (idempotent, like restic's rest-server).
    public func create() async throws { try await objects.createRepository(prefix) }

    public func size(_ handle: Handle) async throws -> Int? { try await objects.size(key(handle)) }

    public func get(_ handle: Handle) async throws -> [UInt8]? { try await objects.get(key(handle)) }

    /// The files of `type` whose names start with `namePrefix` (all of them by default).
    public func list(_ type: FileType, namePrefix: String = "") async throws -> [FileInfo] {
        var directory = prefix + type.rawValue + "/"
        if type.isSharded && namePrefix.count >= 2 { directory += namePrefix.prefix(2) + "/" }
        let found = try await objects.list(prefix: directory + (type.isSharded && namePrefix.count < 2 ? "" : namePrefix))
        return found.compactMap { object in
            let name = String(object.key[(object.key.lastIndex(of: "/").map { object.key.index(after: $0) } ?? object.key.startIndex)...])
            guard name.hasPrefix(namePrefix), let handle = try? Handle(type, name: name), key(handle) == object.key else { return nil }
            return FileInfo(handle: handle, size: object.size)
        }
    }

    public func remove(_ handle: Handle) async throws {
        do { try await objects.delete(key(handle)) } catch let e as StoreError where e.kind == .notFound {
            throw StoreError(.notFound, "\(handle) does not exist")
        }
    }

    public func read(_ handle: Handle, range: Range<Int>, _ body: (ByteBuffer) async throws -> Void) async throws {
        try await objects.read(key(handle), range: range, body)
    }

    /// An upload in progress: bytes go to a staged temporary file, hashed on the way.
    public final class Upload: @unchecked Sendable {
        let store: RepositoryStore
        let handle: Handle
        let staged: AtomicFile
        let limit: Int
        var hasher = SHA256()
        /// The first bytes, enough to check a ref version's contents without reading the file back.
        var head: [UInt8] = []
        public private(set) var size = 0

        init(store: RepositoryStore, handle: Handle, limit: Int) throws {
            self.store = store
            self.handle = handle
            self.limit = limit
            staged = try store.objects.stage(for: store.key(handle))
        }

        public func write(_ bytes: UnsafeRawBufferPointer) throws {
            size += bytes.count
            guard size <= limit else { throw StoreError(.tooLarge, "the body is larger than the \(limit)-byte limit") }
            hasher.update(bufferPointer: bytes)
            if head.count <= 64 { head += bytes.prefix(65 - head.count) }
            do { try staged.write(bytes) } catch { throw StoreError(error) }
        }

        /// A ref version must hold a session file's name: 64 lowercase hex digits.
        public func checkRefContents() throws {
            guard head.count == 64, Handle.isValidName(String(decoding: head, as: UTF8.self)) else {
                throw StoreError(.badRequest, "a ref holds a session file's name: 64 hex digits")
            }
        }

        /// Verifies the name and commits the file write-once; `StoreError(.exists)` when the
        /// name was taken meanwhile.
        public func commit(verifyHash: Bool) async throws {
            let digest = Hex.encode(Array(hasher.finalize()))
            if verifyHash && digest != handle.name {
                throw StoreError(.badRequest, "the body's SHA-256 is \(digest), not the name \(handle.name)")
            }
            guard try await store.objects.commit(staged, size: size, sha256: digest, to: store.key(handle)) else {
                throw StoreError(.exists, "\(handle) exists already")
            }
        }
    }

    public func upload(_ handle: Handle, limit: Int) async throws -> Upload {
        if try await size(handle) != nil { throw StoreError(.exists, "\(handle) exists already") }
        return try Upload(store: self, handle: handle, limit: limit)
    }
}

/// Bytes stored per user, counted once from the store and then kept up to date by the writes
/// and deletes that go through the server.
public actor UsageTracker {
    let objects: any ObjectStore
    private var bytes: [String: Int] = [:]

    public init(objects: any ObjectStore) { self.objects = objects }

    public func usage(_ user: String) async throws -> Int {
        if let known = bytes[user] { return known }
        let counted = try await objects.list(prefix: user + "/").reduce(0) { $0 + $1.size }
        if bytes[user] == nil { bytes[user] = counted }
        return bytes[user] ?? counted
    }

    public func add(_ user: String, _ delta: Int) async {
        _ = try? await usage(user)
        bytes[user, default: 0] += delta
    }
}
