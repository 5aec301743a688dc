// Micro benchmarks of ConvoSyncFormat: the chunker, SHA-256, the frame codecs, the AES-256-GCM
// envelope, and writing/reading a whole pack the way the engine does.
//
// Inputs are lines of the real recorded sessions in ../shared/corpus/real (next to the
// repository, found from this file's path; CONVOSYNC_CORPUS overrides the folder). Without it
// a deterministic generated JSONL buffer of the same sizes is used instead.
//
// Each benchmark reports wall clock, throughput (iterations per second), mallocs, peak RSS and
// "MB/s": bytes of input processed per second of the measured work (decimal MB), one sample per
// iteration. Compress benchmarks also report the size of their output.

import Benchmark
import ConvoSyncFormat
import Foundation

// MARK: inputs

/// The corpus split into lines, each with its "\n" (a last line without one is kept as is).
struct Corpus: Sendable {
    var lines: [[UInt8]]
    var source: String

    static func load() -> Corpus {
        let env = ProcessInfo.processInfo.environment["CONVOSYNC_CORPUS"]
        // #filePath = <repo>/Benchmarks/Micro/Benchmarks/CoreMicro/CoreMicro.swift
        var repo = URL(fileURLWithPath: #filePath)
        for _ in 0..<5 { repo.deleteLastPathComponent() }
        let dir = env ?? repo.deletingLastPathComponent().appendingPathComponent("shared/corpus/real").path
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
            .filter { $0.hasSuffix(".jsonl") }.sorted()
        var lines: [[UInt8]] = []
        for name in names {
            guard let data = FileManager.default.contents(atPath: dir + "/" + name) else { continue }
            lines.append(contentsOf: split(Array(data)))
        }
        if lines.reduce(0, { $0 + $1.count }) >= 4 << 20 {
            return Corpus(lines: lines, source: "\(names.count) real sessions in \(dir)")
        }
        return Corpus(lines: generated(bytes: 5 << 20), source: "generated JSONL (corpus not found at \(dir))")
    }

    static func split(_ bytes: [UInt8]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var start = 0
        for i in bytes.indices where bytes[i] == UInt8(ascii: "\n") {
            out.append(Array(bytes[start...i]))
            start = i + 1
        }
        if start < bytes.count { out.append(Array(bytes[start...])) }
        return out
    }

    /// Deterministic JSONL lines shaped like a transcript (SplitMix64, seed 1).
    static func generated(bytes: Int) -> [[UInt8]] {
        var state: UInt64 = 1
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let words = ["the", "file", "function", "error", "test", "swift", "build", "return", "let", "var",
                     "repository", "snapshot", "pack", "index", "message", "line", "output", "run", "fix", "tool"]
        var out: [[UInt8]] = []
        var total = 0
        var n = 0
        while total < bytes {
            let count = 5 + Int(next() % 400)
            let text = (0..<count).map { _ in words[Int(next() % UInt64(words.count))] }.joined(separator: " ")
            let role = n % 2 == 0 ? "user" : "assistant"
            let line = Array("{\"type\":\"\(role)\",\"uuid\":\"\(String(next(), radix: 16))\",\"seq\":\(n),\"message\":{\"role\":\"\(role)\",\"content\":\"\(text)\"}}\n".utf8)
            total += line.count
            out.append(line)
            n += 1
        }
        return out
    }

    /// The first whole lines whose total reaches `bytes`.
    func lines(reaching bytes: Int) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var total = 0
        for line in lines where total < bytes {
            out.append(line)
            total += line.count
        }
        return out
    }

    /// The first whole lines whose total stays within `bytes`.
    func lines(within bytes: Int) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var total = 0
        for line in lines {
            guard total + line.count <= bytes else { break }
            out.append(line)
            total += line.count
        }
        return out
    }

    /// Exactly `bytes` bytes of the corpus, from its start.
    func prefix(_ bytes: Int) -> [UInt8] {
        Array(lines(reaching: bytes).joined().prefix(bytes))
    }
}

// MARK: metrics

/// Input bytes per second of the measured work; recorded in bytes/s, shown in M (= MB/s).
let megabytesPerSecond = BenchmarkMetric.custom("MB/s", polarity: .prefersLarger, useScalingFactor: false)
/// Size of a compressor's output; recorded in bytes, shown in K (= KB).
let outputKilobytes = BenchmarkMetric.custom("output KB", polarity: .prefersSmaller, useScalingFactor: false)

func configuration(maxDuration: Duration = .seconds(2), extra: [BenchmarkMetric] = []) -> Benchmark.Configuration {
    .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .peakMemoryResident, megabytesPerSecond] + extra,
        units: [megabytesPerSecond: .mega, outputKilobytes: .kilo],
        warmupIterations: 2,
        maxDuration: maxDuration,
        maxIterations: 10_000)
}

/// Runs `body` once, recording `bytes` / elapsed as MB/s.
@inline(__always)
func timed<T>(_ benchmark: Benchmark, bytes: Int, _ body: () throws -> T) rethrows -> T {
    let start = ContinuousClock.now
    let result = try body()
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    benchmark.measurement(megabytesPerSecond, Int(Double(bytes) / max(seconds, 1e-9)))
    return result
}

func mib(_ n: Int) -> String {
    n % (1 << 20) == 0 ? "\(n >> 20) MiB" : String(format: "%.0f KiB", Double(n) / 1024)
}

// MARK: pack write / read, as PackerManager and Repository.loadBlob do it

/// Blobs as a backup makes them: one per line, lines over the message threshold chunked.
func blobs(of lines: [[UInt8]]) -> [[UInt8]] {
    let chunker = Chunker(parameters: .default)
    var out: [[UInt8]] = []
    for line in lines {
        if line.count <= chunker.parameters.messageThreshold {
            out.append(line)
        } else {
            for r in chunker.boundaries(of: line) { out.append(Array(line[r])) }
        }
    }
    return out
}

/// Hashes every blob, fills 1 MiB frames, seals them and ends the pack with its sealed header.
func writePack(_ blobs: [[UInt8]], compression: Compression, key: MasterKey, frameSize: Int = 1 << 20) throws -> (PackID, [UInt8]) {
    var pack: [UInt8] = []
    var entries: [PackHeader.Frame] = []
    var frame = FrameBuilder(reservingCapacity: frameSize + frameSize / 4)
    func seal() throws {
        guard !frame.isEmpty else { return }
        let sealed = try frame.seal(compression: compression, using: key.encryption)
        pack.append(contentsOf: sealed.bytes)
        entries.append(sealed.entry)
        frame = FrameBuilder(reservingCapacity: frameSize + frameSize / 4)
    }
    for blob in blobs {
        frame.append(blob, id: BlobID(ObjectID.hash(blob)), type: .data)
        if frame.rawLength >= frameSize { try seal() }
    }
    try seal()
    pack.append(contentsOf: try PackHeader(frames: entries).sealedTrailer(using: key.encryption))
    return (PackID(ObjectID.hash(pack)), pack)
}

/// Opens the header, then every frame, and checks every blob against its ID. Returns the raw bytes read.
func readPack(_ pack: [UInt8], key: MasterKey) throws -> Int {
    let header = try PackHeader(pack: pack, using: key.encryption)
    var total = 0
    for (frame, offset) in zip(header.frames, header.frameOffsets) {
        let raw = try frame.open(Array(pack[offset..<(offset + frame.storedLength)]), using: key.encryption)
        for (blob, at) in zip(frame.blobs, frame.blobOffsets) {
            let bytes = raw[at..<(at + blob.length)]
            guard ObjectID.hash(bytes) == blob.id.objectID else { fatalError("blob \(blob.id.short) does not match its ID") }
        }
        total += raw.count
    }
    return total
}

// MARK: benchmarks

let benchmarks: @Sendable () -> Void = {
    let corpus = Corpus.load()
    if corpus.source.hasPrefix("generated") {
        FileHandle.standardError.write(Data("CoreMicro inputs: \(corpus.source)\n".utf8))
    }
    let key = MasterKey.generate()

    // Chunker over 4 MiB.
    let chunkInput = corpus.prefix(4 << 20)
    Benchmark("chunker FastCDC boundaries, \(mib(chunkInput.count))", configuration: configuration()) { benchmark in
        let chunker = Chunker(parameters: .default)
        let ranges = timed(benchmark, bytes: chunkInput.count) { chunker.boundaries(of: chunkInput) }
        blackHole(ranges)
    }

    // SHA-256 of 1 MiB.
    let oneMiB = corpus.prefix(1 << 20)
    Benchmark("SHA-256, \(mib(oneMiB.count))", configuration: configuration()) { benchmark in
        blackHole(timed(benchmark, bytes: oneMiB.count) { ObjectID.hash(oneMiB) })
    }

    // Frame codecs over a ~256 KiB run of whole JSONL lines (with the real corpus: its first 267 lines, 261,939 bytes).
    let run = Array(corpus.lines(within: 256 << 10).joined())
    for compression in [Compression(codec: .gzip, level: 9), Compression(codec: .zstd, level: 3),
                        Compression(codec: .zstd, level: 19), Compression(codec: .none)] {
        let compressed = try! compression.compress(run)  // invariant: every codec compresses any input
        // `none` returns its input without copying: its figures are the harness's own cost.
        Benchmark("compress \(compression), \(mib(run.count)) JSONL", configuration: configuration(extra: [outputKilobytes])) { benchmark in
            let out = try timed(benchmark, bytes: run.count) { try compression.compress(run) }
            benchmark.measurement(outputKilobytes, out.count)
            blackHole(out)
        }
        Benchmark("decompress \(compression), \(mib(run.count)) JSONL", configuration: configuration()) { benchmark in
            let out = try timed(benchmark, bytes: run.count) {
                try Compression.decompress(compressed, codec: compression.codec, rawLength: run.count)
            }
            precondition(out.count == run.count)
            blackHole(out)
        }
    }

    // Envelope (AES-256-GCM) of 1 MiB.
    let sealed = try! Envelope.seal(oneMiB, using: key.encryption, context: .frame)  // invariant: sealing cannot fail
    Benchmark("envelope seal AES-256-GCM, \(mib(oneMiB.count))", configuration: configuration()) { benchmark in
        blackHole(try timed(benchmark, bytes: oneMiB.count) { try Envelope.seal(oneMiB, using: key.encryption, context: .frame) })
    }
    Benchmark("envelope open AES-256-GCM, \(mib(oneMiB.count))", configuration: configuration()) { benchmark in
        blackHole(try timed(benchmark, bytes: oneMiB.count) { try Envelope.open(sealed, using: key.encryption, context: .frame) })
    }

    // Pack write and read: ~4 MiB of message lines in 1 MiB frames.
    let packBlobs = blobs(of: corpus.lines(reaching: 4 << 20))
    let packRaw = packBlobs.reduce(0) { $0 + $1.count }
    for compression in [Compression.default, Compression(codec: .zstd, level: 3)] {
        let (_, pack) = try! writePack(packBlobs, compression: compression, key: key)  // invariant: as above
        let label = "\(compression), \(mib(packRaw)), \(packBlobs.count) blobs"
        Benchmark("pack write \(label)", configuration: configuration(maxDuration: .seconds(3), extra: [outputKilobytes])) { benchmark in
            let (id, bytes) = try timed(benchmark, bytes: packRaw) { try writePack(packBlobs, compression: compression, key: key) }
            benchmark.measurement(outputKilobytes, bytes.count)
            blackHole(id)
        }
        Benchmark("pack read \(label)", configuration: configuration()) { benchmark in
            let n = try timed(benchmark, bytes: packRaw) { try readPack(pack, key: key) }
            precondition(n == packRaw)
        }
    }
}
