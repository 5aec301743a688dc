public import ConvoSyncFormat

/// A backend that keeps files in memory; for tests and benchmarks.
public actor MemoryBackend: Backend {
    private var files: [Handle: [UInt8]] = [:]
    private var created = false

    public nonisolated let location = "memory:"
    public nonisolated let maxConcurrentOperations = 4

    public init() {}

    public func create() throws {
        guard files[.config] == nil else { throw StorageError(.alreadyExists, "a repository exists already at \(location)") }
        created = true
    }

    public func save(_ handle: Handle, data: [UInt8]) throws {
        guard files[handle] == nil else { throw StorageError(.alreadyExists, "\(handle) exists already") }
        files[handle] = data
    }

    public func load(_ handle: Handle, range: Range<Int>?) throws -> [UInt8] {
        guard let data = files[handle] else { throw StorageError(.notFound, "\(handle) does not exist") }
        return Array(data[try checkRange(range, size: data.count, handle: handle)])
    }

    public func stat(_ handle: Handle) throws -> Int {
        guard let data = files[handle] else { throw StorageError(.notFound, "\(handle) does not exist") }
        return data.count
    }

    public func list(_ type: FileType) -> [FileInfo] {
        files.filter { $0.key.type == type }.map { FileInfo(handle: $0.key, size: $0.value.count) }.sorted { $0.handle.name < $1.handle.name }
    }

    public func remove(_ handle: Handle) throws {
        guard files.removeValue(forKey: handle) != nil else { throw StorageError(.notFound, "\(handle) does not exist") }
    }

    /// Replaces a file's bytes without the write-once check: lets tests simulate corruption.
    public func corrupt(_ handle: Handle, with data: [UInt8]) { files[handle] = data }
}
