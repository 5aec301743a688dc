public import ConvoSyncFormat
public import ConvoSyncStorage
public import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A tiny deterministic generator for test data; tests log the seed they use.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    public mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: next()) } }
}

/// Paths of the project and of ../shared, found by walking up from this file.
public enum Paths {
    public static let projectRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }()
    public static var vectors: URL { projectRoot.appendingPathComponent("Format/vectors") }
    public static var realCorpus: URL { projectRoot.deletingLastPathComponent().appendingPathComponent("shared/corpus/real") }
    public static var generator: URL { projectRoot.deletingLastPathComponent().appendingPathComponent("shared/corpus/gen_session.py") }

    /// The built `convosync` binary next to the test bundle.
    public static var binary: URL {
        if let p = ProcessInfo.processInfo.environment["CONVOSYNC_BIN"] { return URL(fileURLWithPath: p) }
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return exe.deletingLastPathComponent().appendingPathComponent("convosync")
    }

    /// Every `.jsonl` file of the real corpus.
    public static func realSessions() -> [URL] {
        ((try? FileManager.default.contentsOfDirectory(at: realCorpus, includingPropertiesForKeys: nil)) ?? [])
            .filter { $0.pathExtension == "jsonl" }.sorted { $0.path < $1.path }
    }
}

/// A fresh temporary directory, removed by `cleanup()`.
public struct TemporaryDirectory: Sendable {
    public let url: URL
    public init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("convosync-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    public var path: String { url.path }
    public func cleanup() { try? FileManager.default.removeItem(at: url) }
}

/// What a process printed and how it ended.
public struct RunResult: Sendable {
    public var status: Int32
    public var output: [UInt8]
    public var errors: [UInt8]
    public var stdout: String { String(decoding: output, as: UTF8.self) }
    public var stderr: String { String(decoding: errors, as: UTF8.self) }
}

/// Runs a program to its end, its output and errors going to temporary files: unlike two
/// pipes read one after the other, a child that fills its stderr while the test reads its
/// stdout cannot block both, and the output's size is not bounded by a pipe's buffer. With
/// `timeout`, a program still running after that many seconds is killed (SIGKILL),
/// so a hung program fails its test instead of stalling the run.
public func runProgram(
    _ executable: URL, _ args: [String], environment: [String: String]? = nil, cwd: String? = nil, stdin: String? = nil, timeout: TimeInterval? = nil
) throws -> RunResult {
    let p = Process()
    p.executableURL = executable
    p.arguments = args
    if let environment { p.environment = environment }
    if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    let base = NSTemporaryDirectory() + "convosync-run-\(UUID().uuidString)"
    defer { for suffix in [".out", ".err", ".in"] { try? FileManager.default.removeItem(atPath: base + suffix) } }
    FileManager.default.createFile(atPath: base + ".out", contents: nil)
    FileManager.default.createFile(atPath: base + ".err", contents: nil)
    let out = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".out"))
    let err = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".err"))
    p.standardOutput = out
    p.standardError = err
    if let stdin {
        FileManager.default.createFile(atPath: base + ".in", contents: Data(stdin.utf8))
        p.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: base + ".in"))
    }
    try p.run()
    if let timeout {
        let pid = p.processIdentifier
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { if p.isRunning { kill(pid, SIGKILL) } }
    }
    p.waitUntilExit()
    try? out.close()
    try? err.close()
    let output = (try? Data(contentsOf: URL(fileURLWithPath: base + ".out"))) ?? Data()
    let errors = (try? Data(contentsOf: URL(fileURLWithPath: base + ".err"))) ?? Data()
    return RunResult(status: p.terminationStatus, output: Array(output), errors: Array(errors))
}

/// ``runProgram(_:_:environment:cwd:stdin:)`` on a thread of its own, for a program that talks
/// to a server running in this test process: waiting for it on one of Swift's few cooperative
/// threads could leave that server's request handlers none to run on (two such waits on two
/// cores did: restic and the in-process server waited on each other for good).
public func runProgramOffPool(
    _ executable: URL, _ args: [String], environment: [String: String]? = nil, cwd: String? = nil, stdin: String? = nil, timeout: TimeInterval? = nil
) async throws -> RunResult {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try runProgram(executable, args, environment: environment, cwd: cwd, stdin: stdin, timeout: timeout) }) }.start()
    }
}

/// Runs the session generator of ../shared/corpus.
public func generateSession(messages: Int, seed: Int = 1) throws -> [UInt8] {
    try runProgram(URL(fileURLWithPath: "/usr/bin/env"), ["python3", Paths.generator.path, "--messages", String(messages), "--seed", String(seed)]).output
}

/// A Wycheproof-shaped vector file.
public struct VectorFile<Test: Decodable & Sendable>: Decodable, Sendable {
    public struct Group: Decodable, Sendable { public var tests: [Test] }
    public var algorithm: String
    public var specVersion: Int
    public var numberOfTests: Int
    public var testGroups: [Group]
    public var tests: [Test] { testGroups.flatMap(\.tests) }

    public static func load(_ name: String) throws -> VectorFile {
        let data = try Data(contentsOf: Paths.vectors.appendingPathComponent(name))
        return try JSONDecoder().decode(VectorFile.self, from: data)
    }
}

/// One conformance suite every backend must pass.
public enum BackendConformance {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    static func expect(_ ok: Bool, _ what: String) throws {
        if !ok { throw Failure(description: what) }
    }

    static func expectError(_ code: StorageError.Code, _ what: String, _ body: () async throws -> Void) async throws {
        do {
            try await body()
            throw Failure(description: "\(what): expected \(code), got success")
        } catch let e as StorageError {
            try expect(e.code == code, "\(what): expected \(code), got \(e.code): \(e.message)")
        }
    }

    public static func run(_ backend: any Backend) async throws {
        try await backend.create()
        try await expect(backend.list(.snapshot).isEmpty, "a new repository has no snapshots")
        var rng = SplitMix64(seed: 7)
        let data = rng.bytes(100_000)
        let id = PackID(ObjectID.hash(data))
        let h = Handle(.pack, id: id)
        try await expect(!(backend.exists(h)), "fresh backend has no pack")
        try await backend.save(h, data: data)
        try await expect(backend.load(h) == data, "load returns what was saved")
        try await expect(backend.load(h, range: 10..<1000) == Array(data[10..<1000]), "range load")
        try await expect(backend.stat(h) == data.count, "stat size")
        try await expect(backend.list(.pack).map(\.handle) == [h], "list shows the pack")
        try await expect(backend.list(.index).isEmpty, "other types are empty")
        try await expectError(.alreadyExists, "second save of the same name") { try await backend.save(h, data: [1]) }
        try await expect(backend.load(h) == data, "failed overwrite left the file unchanged")
        try await expectError(.io, "range beyond the end") { _ = try await backend.load(h, range: 0..<(data.count + 1)) }
        try await backend.save(.config, data: [1, 2, 3])
        try await expect(backend.load(.config) == [1, 2, 3], "config")
        try await backend.remove(h)
        try await expectError(.notFound, "load after remove") { _ = try await backend.load(h) }
        try await expectError(.notFound, "remove twice") { try await backend.remove(h) }
        for bad in ["../../etc/passwd", "config", "", String(repeating: "A", count: 64), String(repeating: "0", count: 63) + "/"] {
            do {
                _ = try Handle(.snapshot, name: bad)
                throw Failure(description: "name '\(bad)' was accepted")
            } catch let e as StorageError {
                try expect(e.code == .invalidName, "invalid name code")
            }
        }
        try await refs(backend)
    }

    /// Refs: compare-and-swap built on write-once saves (Format/SPEC.md §Refs).
    static func refs(_ backend: any Backend) async throws {
        let ref = String(repeating: "ab", count: 32)
        let (t1, t2, t3) = (String(repeating: "1", count: 64), String(repeating: "2", count: 64), String(repeating: "3", count: 64))
        try await expect(backend.refHead(ref) == nil, "a new ref has no head")
        try await backend.advanceRef(ref, from: 0, to: t1)
        try await expectError(.conflict, "creating an existing ref") { try await backend.advanceRef(ref, from: 0, to: t2) }
        try await backend.advanceRef(ref, from: 1, to: t2)
        // Two writers from version 2: exactly one wins.
        async let x: Bool = (try? await backend.advanceRef(ref, from: 2, to: t3)) != nil
        async let y: Bool = (try? await backend.advanceRef(ref, from: 2, to: t1)) != nil
        let wins = await [x, y].filter { $0 }.count
        try expect(wins == 1, "one of two racing writers wins (got \(wins))")
        let head = try await backend.refHead(ref)
        try expect(head?.version == 3, "head version after three advances")
        try await expectError(.conflict, "advancing from a stale version") { try await backend.advanceRef(ref, from: 1, to: t3) }
        try await expect(backend.refHeads().count == 1, "one ref listed")
        let third = try Handle.ref(ref, version: 3)
        try expect(third.ref == ref && third.refVersion == 3, "a ref version's handle names its ref and version")
        try expect(Handle(.pack, id: PackID(ObjectID.hash([1]))).ref == nil, "only ref versions have a ref")
        for bad in [ref, ref + "-1", ref + "-00000000001", ref + "-0000000000", "../" + ref + "-0000000001"] {
            try expect(!Handle.isValidName(bad, type: .ref), "ref name '\(bad)' rejected")
        }
    }
}

/// Polls `condition` until it holds, sleeping `interval` between tries (without blocking a
/// cooperative thread); throws once `timeout` has passed. For waiting on an event a test
/// cannot be told about, instead of sleeping a fixed time and hoping.
public func eventually(
    _ what: @autoclosure () -> String, timeout: Duration = .seconds(30), interval: Duration = .milliseconds(20),
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try await condition() { return }
        guard ContinuousClock.now < deadline else { throw TestFailure("timed out after \(timeout) waiting for \(what())") }
        try await Task.sleep(for: interval)
    }
}

/// Arguments that run a program as an unprivileged user: as root (which ignores file
/// permissions, and is how CI runs) through `runuser -u nobody`, otherwise unchanged.
public func unprivileged(_ executable: URL, _ args: [String]) -> (URL, [String]) {
    guard getuid() == 0 else { return (executable, args) }
    return (URL(fileURLWithPath: "/usr/sbin/runuser"), ["-p", "-u", "nobody", "--", executable.path] + args)
}
