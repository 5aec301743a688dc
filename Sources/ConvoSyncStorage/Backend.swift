public import ConvoSyncFormat

/// The name of one stored file: its type and its name within that type.
///
/// Implements Format/SPEC.md §Layout: `config` is the only name of its type; a ref version is
/// `<64 hex digits>-<10 decimal digits>`; every other name is 64 lowercase hex digits.
public struct Handle: Hashable, Sendable, CustomStringConvertible {
    public var type: FileType
    public var name: String

    public init(_ type: FileType, name: String) throws(StorageError) {
        if type == .config {
            guard name == "config" else { throw StorageError(.invalidName, "the config file is named 'config', not '\(name.prefix(80))'") }
        } else {
            guard Self.isValidName(name, type: type) else {
                let rule = type == .ref ? "64 lowercase hex digits, '-', a version of 10 decimal digits from 0000000001" : "64 lowercase hex digits"
                throw StorageError(.invalidName, "'\(name.prefix(80))' is not a valid \(type.rawValue) name (\(rule))")
            }
        }
        (self.type, self.name) = (type, name)
    }

    public static let config = Handle(unchecked: .config, name: "config")

    /// A ref version's file: `<ref>-<version, 10 digits>` (``RefVersion``).
    public static func ref(_ ref: String, version: Int) throws(StorageError) -> Handle {
        do { return Handle(unchecked: .ref, name: try RefVersion(ref: ref, version: version).fileName) } catch {
            throw StorageError(.invalidName, error.message)
        }
    }

    public init<Tag>(_ type: FileType, id: ID<Tag>) {
        self.init(unchecked: type, name: id.hex)
    }

    private init(unchecked type: FileType, name: String) { (self.type, self.name) = (type, name) }

    /// 64 lowercase hex digits: the name of every file but the config and ref versions.
    public static func isValidName(_ name: String) -> Bool { RefName.isValid(name) }

    /// Whether `name` is a valid name for a file of `type` (other than the config).
    public static func isValidName(_ name: String, type: FileType) -> Bool {
        guard type == .ref else { return isValidName(name) }
        return (try? RefVersion(fileName: name)) != nil
    }

    /// A ref version's ref and number; nil for other types.
    public var refVersionName: RefVersion? { type == .ref ? try? RefVersion(fileName: name) : nil }

    /// A ref version's ref; nil for other types.
    public var ref: String? { refVersionName?.ref }

    /// A ref version's number (≥ 1); nil for other types.
    public var refVersion: Int? { refVersionName?.version }

    /// The path relative to the repository root.
    public var relativePath: String {
        switch type {
        case .config: "config"
        case .pack: "data/\(name.prefix(2))/\(name)"
        default: "\(type.rawValue)/\(name)"
        }
    }

    public var description: String { relativePath }
}

/// A stored file's name and size, as listed.
public struct FileInfo: Hashable, Sendable {
    public var handle: Handle
    public var size: Int
    public init(handle: Handle, size: Int) { (self.handle, self.size) = (handle, size) }
}

/// Where a repository's opaque bytes live.
///
/// Every operation is atomic from a reader's point of view: a file is either absent or
/// complete. Backends never see plaintext. Implementations: ``LocalBackend``,
/// ``MemoryBackend``; the REST backend joins them with the server.
public protocol Backend: Sendable {
    /// Human-readable location, e.g. a path or URL (never containing a password).
    var location: String { get }
    /// How many operations a caller should run at once.
    var maxConcurrentOperations: Int { get }

    /// Creates the layout of an empty repository; fails with `.alreadyExists` if a config exists.
    func create() async throws
    /// Stores `data` under `handle` atomically, replacing nothing: `.alreadyExists` if present.
    func save(_ handle: Handle, data: [UInt8]) async throws
    /// Reads a whole file, or `range` of it.
    func load(_ handle: Handle, range: Range<Int>?) async throws -> [UInt8]
    /// The size of a file; `.notFound` if absent.
    func stat(_ handle: Handle) async throws -> Int
    /// Every file of one type (temporary and foreign names are skipped).
    func list(_ type: FileType) async throws -> [FileInfo]
    /// Deletes a file; `.notFound` if absent.
    func remove(_ handle: Handle) async throws
}

extension Backend {
    public func load(_ handle: Handle) async throws -> [UInt8] { try await load(handle, range: nil) }

    public func exists(_ handle: Handle) async throws -> Bool {
        do {
            _ = try await stat(handle)
            return true
        } catch let e as StorageError where e.code == .notFound {
            return false
        }
    }
}

func checkRange(_ range: Range<Int>?, size: Int, handle: Handle) throws(StorageError) -> Range<Int> {
    guard let range else { return 0..<size }
    guard range.lowerBound >= 0, range.upperBound <= size else {
        throw StorageError(.io, "\(handle) is \(size) bytes; cannot read \(range.lowerBound)..<\(range.upperBound) (file truncated?)")
    }
    return range
}
