import ConvoSyncFormat
import ConvoSyncTestSupport
import Crypto
import Foundation
import Testing

/// Set CONVOSYNC_WRITE_VECTORS=1 to regenerate Format/vectors (only with a spec version bump).
let writeVectors = ProcessInfo.processInfo.environment["CONVOSYNC_WRITE_VECTORS"] == "1"

struct EnvelopeVector: Codable, Sendable {
    var tcId: Int
    var comment: String
    var key: String
    var context: String
    var plaintext: String
    var sealed: String
    var result: String
}

struct PackVector: Codable, Sendable {
    var tcId: Int
    var comment: String
    var key: String
    var pack: String
    /// Blob IDs in header order, for valid packs.
    var blobs: [String]
    var result: String
    /// Expected FormatError code for invalid packs.
    var error: String?
}

struct ChunkerVector: Codable, Sendable {
    var tcId: Int
    var comment: String
    var seed: UInt64
    var length: Int
    var chunkLengths: [Int]
    var result: String
}

struct VectorGroupOut<U: Encodable>: Encodable { var tests: [U] }
struct VectorFileOut<U: Encodable>: Encodable {
    var algorithm: String; var specVersion = 1; var numberOfTests: Int; var header: [String]; var notes: String; var testGroups: [VectorGroupOut<U>]
}

func writeVectorFile<T: Encodable>(_ name: String, algorithm: String, notes: String, tests: [T]) throws {
    let f = VectorFileOut(algorithm: algorithm, numberOfTests: tests.count, header: ["Format/SPEC.md"], notes: notes, testGroups: [VectorGroupOut(tests: tests)])
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys]
    try e.encode(f).write(to: Paths.vectors.appendingPathComponent(name))
}

let vectorKey = SymmetricKey(data: (0..<32).map { UInt8($0) })

@Suite("Format vectors")
struct VectorTests {
    @Test("envelope vectors open or fail as recorded")
    func envelope() throws {
        if writeVectors {
            let nonce = try AES.GCM.Nonce(data: (0..<12).map { UInt8(0xA0 + $0) })
            let plain = Array("{\"hello\":\"world\"}".utf8)
            let sealed = try Envelope.seal(plain, using: vectorKey, context: .snapshot, nonce: nonce)
            var flipped = sealed; flipped[flipped.count - 1] ^= 1
            var flippedCipher = sealed; flippedCipher[12] ^= 0x80
            let empty = try Envelope.seal([UInt8](), using: vectorKey, context: .config, nonce: nonce)
            let k = Hex.encode(vectorKey.withUnsafeBytes { Array($0) })
            try writeVectorFile("envelope.json", algorithm: "AES-256-GCM envelope", notes: "nonce ‖ ciphertext ‖ tag; AAD convosync/1/<context>", tests: [
                EnvelopeVector(tcId: 1, comment: "snapshot JSON", key: k, context: "snapshot", plaintext: Hex.encode(plain), sealed: Hex.encode(sealed), result: "valid"),
                EnvelopeVector(tcId: 2, comment: "empty plaintext", key: k, context: "config", plaintext: "", sealed: Hex.encode(empty), result: "valid"),
                EnvelopeVector(tcId: 3, comment: "flipped tag bit", key: k, context: "snapshot", plaintext: "", sealed: Hex.encode(flipped), result: "invalid"),
                EnvelopeVector(tcId: 4, comment: "flipped ciphertext bit", key: k, context: "snapshot", plaintext: "", sealed: Hex.encode(flippedCipher), result: "invalid"),
                EnvelopeVector(tcId: 5, comment: "wrong context (index opened as snapshot)", key: k, context: "index", plaintext: "", sealed: Hex.encode(sealed), result: "invalid"),
                EnvelopeVector(tcId: 6, comment: "truncated below the envelope size", key: k, context: "snapshot", plaintext: "", sealed: Hex.encode(sealed.prefix(27)), result: "invalid"),
            ])
        }
        let file = try VectorFile<EnvelopeVector>.load("envelope.json")
        #expect(file.tests.count == file.numberOfTests)
        for v in file.tests {
            let key = SymmetricKey(data: Hex.decode(v.key)!)
            let context = try #require(EnvelopeContext(rawValue: v.context))
            let sealed = Hex.decode(v.sealed)!
            if v.result == "valid" {
                #expect(try Envelope.open(sealed, using: key, context: context) == Hex.decode(v.plaintext)!, "tcId \(v.tcId)")
            } else {
                #expect(throws: FormatError.self, "tcId \(v.tcId): \(v.comment)") { try Envelope.open(sealed, using: key, context: context) }
            }
        }
    }

    @Test("pack vectors parse or fail with the recorded code")
    func pack() throws {
        if writeVectors {
            var frame = FrameBuilder()
            let a = Array("{\"type\":\"user\"}".utf8), b = Array("{\"type\":\"assistant\"}".utf8)
            frame.append(a, id: BlobID(ObjectID.hash(a)), type: .data)
            frame.append(b, id: BlobID(ObjectID.hash(b)), type: .data)
            let sealed = try frame.seal(compression: Compression(codec: .none), using: vectorKey)
            let header = PackHeader(frames: [sealed.entry])
            let pack = sealed.bytes + (try header.sealedTrailer(using: vectorKey))
            let k = Hex.encode(vectorKey.withUnsafeBytes { Array($0) })
            let ids = [ObjectID.hash(a).hex, ObjectID.hash(b).hex]
            var badLen = pack; badLen[badLen.count - 1] = 0x7f
            var flipped = pack; flipped[sealed.bytes.count + 20] ^= 1
            // A header with an unknown version, sealed properly.
            var v2 = header.encoded(); v2[4] = 2
            var v2Sealed = try Envelope.seal(v2, using: vectorKey, context: .packHeader)
            v2Sealed += UInt32(v2Sealed.count).littleEndianBytesForTests
            var badType = header.encoded(); badType[4 + 1 + 4 + 13] = 9
            var badTypeSealed = try Envelope.seal(badType, using: vectorKey, context: .packHeader)
            badTypeSealed += UInt32(badTypeSealed.count).littleEndianBytesForTests
            try writeVectorFile("pack.json", algorithm: "ConvoSync pack v1", notes: "frames ‖ envelope(header) ‖ u32 header length", tests: [
                PackVector(tcId: 1, comment: "one uncompressed frame, two blobs", key: k, pack: Hex.encode(pack), blobs: ids, result: "valid"),
                PackVector(tcId: 2, comment: "truncated to 3 bytes", key: k, pack: Hex.encode(pack.prefix(3)), blobs: [], result: "invalid", error: "truncated"),
                PackVector(tcId: 3, comment: "header length out of range", key: k, pack: Hex.encode(badLen), blobs: [], result: "invalid", error: "invalidHeader"),
                PackVector(tcId: 4, comment: "flipped bit in sealed header", key: k, pack: Hex.encode(flipped), blobs: [], result: "invalid", error: "authenticationFailed"),
                PackVector(tcId: 5, comment: "unknown header version", key: k, pack: Hex.encode(sealed.bytes + v2Sealed), blobs: [], result: "invalid", error: "unsupportedVersion"),
                PackVector(tcId: 6, comment: "unknown blob type byte", key: k, pack: Hex.encode(sealed.bytes + badTypeSealed), blobs: [], result: "invalid", error: "unknownType"),
                PackVector(tcId: 7, comment: "last frame byte cut off", key: k, pack: Hex.encode(Array(pack[1...])), blobs: [], result: "invalid", error: "invalidHeader"),
            ])
        }
        let file = try VectorFile<PackVector>.load("pack.json")
        for v in file.tests {
            let key = SymmetricKey(data: Hex.decode(v.key)!)
            let pack = Hex.decode(v.pack)!
            if v.result == "valid" {
                let header = try PackHeader(pack: pack, using: key)
                #expect(header.frames.flatMap(\.blobs).map(\.id.hex) == v.blobs)
                let raw = try header.frames[0].open(Array(pack[0..<header.frames[0].storedLength]), using: key)
                #expect(ObjectID.hash(raw[0..<header.frames[0].blobs[0].length]).hex == v.blobs[0])
            } else {
                do {
                    _ = try PackHeader(pack: pack, using: key)
                    Issue.record("tcId \(v.tcId) parsed but should fail")
                } catch {
                    #expect(error.code.description == v.error, "tcId \(v.tcId): \(v.comment): got \(error.code)")
                }
            }
        }
    }

    @Test("chunker vectors cut where recorded")
    func chunker() throws {
        let chunker = Chunker(parameters: .default)
        if writeVectors {
            var tests: [ChunkerVector] = []
            for (i, (seed, len)) in [(1, 0), (2, 1000), (3, 300_000), (4, 1 << 20)].enumerated() {
                var rng = SplitMix64(seed: UInt64(seed))
                let data = rng.bytes(len)
                tests.append(ChunkerVector(tcId: i + 1, comment: "SplitMix64(seed: \(seed)) bytes", seed: UInt64(seed), length: len, chunkLengths: chunker.boundaries(of: data).map(\.count), result: "valid"))
            }
            try writeVectorFile("chunker.json", algorithm: "FastCDC-style, default parameters", notes: "input = SplitMix64 bytes (low byte of each output)", tests: tests)
        }
        for v in try VectorFile<ChunkerVector>.load("chunker.json").tests {
            var rng = SplitMix64(seed: v.seed)
            let data = rng.bytes(v.length)
            #expect(chunker.boundaries(of: data).map(\.count) == v.chunkLengths, "tcId \(v.tcId)")
        }
    }
}

extension UInt32 {
    var littleEndianBytesForTests: [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: self >> ($0 * 8)) } }
}

@Suite("Format primitives")
struct PrimitiveTests {
    @Test("every codec round-trips and rejects a damaged frame", arguments: ["gzip", "gzip:1", "zstd", "zstd:19", "none"])
    func codecs(_ name: String) throws {
        let c = try Compression(parsing: name)
        var rng = SplitMix64(seed: 11)
        let input = Array(String(repeating: "{\"role\":\"assistant\",\"text\":\"hello\"}\n", count: 500).utf8) + rng.bytes(1000)
        let packed = try c.compress(input)
        #expect(try Compression.decompress(packed, codec: c.codec, rawLength: input.count) == input)
        if c.codec != .none {
            #expect(packed.count < input.count)
            #expect(throws: FormatError.self) { try Compression.decompress(Array(packed.prefix(packed.count / 2)), codec: c.codec, rawLength: input.count) }
            #expect(throws: FormatError.self) { try Compression.decompress(packed, codec: c.codec, rawLength: input.count - 1) }
        }
    }

    @Test("a gzip frame is a standard gzip member that gzip(1) reads")
    func gzipInterop() throws {
        let input = Array(String(repeating: "interop line\n", count: 1000).utf8)
        let packed = try Compression.default.compress(input)
        let tmp = try TemporaryDirectory()
        defer { tmp.cleanup() }
        let file = tmp.url.appendingPathComponent("f.gz")
        try Data(packed).write(to: file)
        #expect(try runProgram(URL(fileURLWithPath: "/usr/bin/env"), ["gzip", "-dc", file.path]).output == input)
    }

    @Test("bad codec names and levels are rejected", arguments: ["lz4", "gzip:10", "zstd:0", "zstd:x", ""])
    func badCodec(_ name: String) {
        #expect(throws: FormatError.self) { try Compression(parsing: name) }
    }

    @Test("chunks respect min and max and cover the input")
    func chunkBounds() {
        var rng = SplitMix64(seed: 5)
        let data = rng.bytes(2 << 20)
        let p = ChunkerParameters.default
        let cuts = Chunker(parameters: p).boundaries(of: data)
        #expect(cuts.first?.lowerBound == 0 && cuts.last?.upperBound == data.count)
        for (a, b) in zip(cuts, cuts.dropFirst()) { #expect(a.upperBound == b.lowerBound) }
        for c in cuts.dropLast() { #expect(c.count >= p.minSize && c.count <= p.maxSize) }
        let mean = data.count / cuts.count
        #expect(mean > p.minSize && mean < p.maxSize)
    }

    @Test("content-defined cuts survive an insertion at the front")
    func chunkShift() {
        var rng = SplitMix64(seed: 9)
        let data = rng.bytes(1 << 20)
        let chunker = Chunker(parameters: .default)
        let a = Set(chunker.boundaries(of: data).map { Array(data[$0]) }.map { ObjectID.hash($0) })
        let shifted = [1, 2, 3] + data
        let b = Set(chunker.boundaries(of: shifted).map { Array(shifted[$0]) }.map { ObjectID.hash($0) })
        #expect(Double(a.intersection(b).count) > Double(a.count) * 0.8)
    }

    @Test("key file unlocks with the right password only")
    func keyFile() throws {
        let master = MasterKey.generate()
        let file = try KeyFile.create(masterKey: master, password: "correct horse", parameters: .insecureTesting, host: "h", username: "u")
        let parsed = try KeyFile(parsing: try file.encoded())
        let unlocked = try parsed.unlock(password: "correct horse")
        #expect(unlocked.mac("x") == master.mac("x"))
        #expect(throws: FormatError.self) { try parsed.unlock(password: "wrong") }
        var future = parsed
        future.version = 2
        #expect(throws: FormatError.self) { try KeyFile(parsing: try JSONCoding.encode(future)) }
        #expect(throws: FormatError.self) { try KeyFile(parsing: Array("{not json".utf8)) }
        #expect(throws: FormatError.self) { try KDFParameters(n: 1000, r: 8, p: 1).validate() }
    }

    @Test("repository JSON files round-trip and reject truncation and the wrong key")
    func repoFiles() throws {
        let key = MasterKey.generate().encryption
        let cfg = ConfigFile(id: String(repeating: "ab", count: 32))
        for c in [Compression(codec: .none), .default, Compression(codec: .zstd)] {
            let sealed = try cfg.sealed(using: key, compression: c)
            let back = try ConfigFile(sealed: sealed, using: key)
            #expect(back.id == cfg.id && back.chunker == cfg.chunker && abs(back.created.timeIntervalSince(cfg.created)) < 0.001)
            #expect(throws: FormatError.self) { try ConfigFile(sealed: Array(sealed.dropLast()), using: key) }
            #expect(throws: FormatError.self) { try ConfigFile(sealed: sealed, using: MasterKey.generate().encryption) }
            // A config cannot be opened as a snapshot: the context is authenticated.
            #expect(throws: FormatError.self) { try SnapshotFile(sealed: sealed, using: key) }
        }
        var future = cfg
        future.version = 2
        #expect(throws: FormatError.self) { try future.validate() }
    }

    @Test("IDs parse hex and reject anything else", arguments: ["", "xyz", String(repeating: "0", count: 63), String(repeating: "g", count: 64)])
    func badIDs(_ text: String) {
        #expect(throws: FormatError.self) { try ObjectID(hex: text) }
    }

    @Test("ID bytes and hex agree with SHA-256")
    func ids() throws {
        let id = ObjectID.hash(Array("abc".utf8))
        #expect(id.hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(try ObjectID(bytes: id.bytes) == id)
        #expect(try ObjectID(hex: id.hex.uppercased()) == id)
    }
}

struct KeyFileVector: Codable, Sendable {
    var tcId: Int
    var comment: String
    var password: String
    var keyFile: String
    var masterKey: String
    var result: String
}

@Suite("Key file vectors")
struct KeyFileVectorTests {
    @Test("key file vectors unlock to the recorded master key or fail")
    func keyFiles() throws {
        if writeVectors {
            let master = try MasterKey(secret: SymmetricKey(data: (0..<32).map { UInt8(255 - $0) }))
            let file = try KeyFile.create(masterKey: master, password: "correct horse battery staple", parameters: .insecureTesting,
                                          host: "vector", username: "vector", created: Date(timeIntervalSince1970: 1_764_000_000))
            let good = String(decoding: try file.encoded(), as: UTF8.self)
            var flipped = file
            var data = Array(Data(base64Encoded: file.data)!)
            data[data.count - 1] ^= 1
            flipped.data = Data(data).base64EncodedString()
            var future = file; future.version = 2
            var tooCheap = file; tooCheap.n = 512
            let m = Hex.encode(master.secret.withUnsafeBytes { Array($0) })
            func text(_ k: KeyFile) throws -> String { String(decoding: try k.encoded(), as: UTF8.self) }
            try writeVectorFile("keyfile.json", algorithm: "scrypt + AES-256-GCM key file", notes: "keyFile is the stored JSON", tests: [
                KeyFileVector(tcId: 1, comment: "valid key file", password: "correct horse battery staple", keyFile: good, masterKey: m, result: "valid"),
                KeyFileVector(tcId: 2, comment: "wrong password", password: "Correct horse battery staple", keyFile: good, masterKey: "", result: "invalid"),
                KeyFileVector(tcId: 3, comment: "flipped tag bit in data", password: "correct horse battery staple", keyFile: try text(flipped), masterKey: "", result: "invalid"),
                KeyFileVector(tcId: 4, comment: "unknown version", password: "correct horse battery staple", keyFile: try text(future), masterKey: "", result: "invalid"),
                KeyFileVector(tcId: 5, comment: "scrypt N below the allowed range", password: "correct horse battery staple", keyFile: try text(tooCheap), masterKey: "", result: "invalid"),
                KeyFileVector(tcId: 6, comment: "truncated JSON", password: "correct horse battery staple", keyFile: String(good.prefix(40)), masterKey: "", result: "invalid"),
            ])
            // tcId 7 and up (keys at the edges of the scrypt bounds) come from an independent
            // implementation: run `python3 Format/tools/keyfile_edges.py` after this.
        }
        for v in try VectorFile<KeyFileVector>.load("keyfile.json").tests {
            if v.result == "valid" {
                let key = try KeyFile(parsing: Array(v.keyFile.utf8)).unlock(password: v.password)
                #expect(Hex.encode(key.secret.withUnsafeBytes { Array($0) }) == v.masterKey, "tcId \(v.tcId)")
            } else {
                #expect(throws: FormatError.self, "tcId \(v.tcId): \(v.comment)") {
                    try KeyFile(parsing: Array(v.keyFile.utf8)).unlock(password: v.password)
                }
            }
        }
    }
}
