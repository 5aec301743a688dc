import ConvoSyncFormat
import ConvoSyncTestSupport
import Crypto
import Foundation
import Testing

/// The vector files are the contract: these tests only read them (Format/tools/vectors writes
/// them, with a spec version change). One test per vector, so one failure hides no other.
@Suite("Format vectors")
struct VectorTests {
    @Test("the vector files hold as many vectors as they declare", arguments: ["envelope.json", "pack.json", "chunker.json", "keyfile.json", "messages.json", "repofile.json", "remap.json"])
    func counts(_ name: String) throws {
        struct Opaque: Decodable, Sendable {}
        let file = try VectorFile<Opaque>.load(name)
        #expect(file.tests.count == file.numberOfTests && file.numberOfTests >= 4)
    }

    @Test("envelope vectors open or fail as recorded", arguments: try VectorFile<EnvelopeVector>.load("envelope.json").tests)
    func envelope(_ v: EnvelopeVector) throws {
        let key = SymmetricKey(data: try #require(Hex.decode(v.key)))
        let context = try #require(EnvelopeContext(rawValue: v.context))
        let sealed = try #require(Hex.decode(v.sealed))
        if v.result == "valid" {
            #expect(try Envelope.open(sealed, using: key, context: context) == Hex.decode(v.plaintext))
        } else {
            #expect(throws: FormatError.self, "\(v.comment)") { try Envelope.open(sealed, using: key, context: context) }
        }
    }

    @Test("pack vectors parse or fail with the recorded code", arguments: try VectorFile<PackVector>.load("pack.json").tests)
    func pack(_ v: PackVector) throws {
        let key = SymmetricKey(data: try #require(Hex.decode(v.key)))
        let pack = try #require(Hex.decode(v.pack))
        if v.result == "valid" {
            let header = try PackHeader(pack: pack, using: key)
            #expect(header.frames.flatMap(\.blobs).map(\.id.hex) == v.blobs)
            let raw = try header.frames[0].open(Array(pack[0..<header.frames[0].storedLength]), using: key)
            #expect(ObjectID.hash(raw[0..<header.frames[0].blobs[0].length]).hex == v.blobs[0])
        } else {
            let error = #expect(throws: FormatError.self, "\(v.comment)") { try PackHeader(pack: pack, using: key) }
            #expect(error?.code.description == v.error, "\(v.comment)")
        }
    }

    @Test("chunker vectors cut where recorded", arguments: try VectorFile<ChunkerVector>.load("chunker.json").tests)
    func chunker(_ v: ChunkerVector) throws {
        var rng = SplitMix64(seed: v.seed)
        let data = rng.bytes(v.length)
        #expect(Chunker(parameters: .default).boundaries(of: data).map(\.count) == v.chunkLengths)
    }

    @Test("message vectors split and join as recorded (SPEC §10)", arguments: try VectorFile<MessagesVector>.load("messages.json").tests)
    func messages(_ v: MessagesVector) throws {
        let messages = try v.messages.map { try #require(Hex.decode($0)) }
        if v.result == "valid" {
            let content = try #require(Hex.decode(v.content))
            let split = MessageSplitter.split(content)
            #expect(split.messages == messages && split.finalNewline == v.finalNewline)
            #expect(try MessageSplitter.join(messages, finalNewline: v.finalNewline) == content)
        } else {
            #expect(throws: FormatError.self) { try MessageSplitter.join(messages, finalNewline: v.finalNewline) }
        }
    }

    @Test("the splitter gives the same messages whatever size the reads come in", arguments: [1, 2, 7, 4096])
    func streamingSplit(_ readSize: Int) throws {
        let content = Array("a\r\n\n{\"x\":1}\nlast without LF".utf8) + [0xff, 0x0A, 0x0A]
        var splitter = MessageSplitter()
        var buffer: [UInt8] = []
        var messages: [[UInt8]] = []
        for start in stride(from: 0, to: content.count, by: readSize) {
            buffer += content[start..<min(start + readSize, content.count)]
            let (lines, consumed) = buffer.withUnsafeBufferPointer { splitter.messages(in: $0) }
            messages += lines.map { Array(buffer[$0]) }
            buffer.removeSubrange(0..<consumed)
        }
        let (last, finalNewline) = splitter.finish(restCount: buffer.count)
        if last { messages.append(buffer) }
        let whole = MessageSplitter.split(content)
        #expect(messages == whole.messages && finalNewline == whole.finalNewline && splitter.count == whole.messages.count)
    }

    /// Sealed by an independent implementation (Format/tools/repofile_vectors.py): each valid
    /// file opens to the recorded JSON, which re-encodes to the same bytes.
    @Test("repository file vectors open to the recorded JSON or fail (SPEC §7)", arguments: try VectorFile<RepoFileVector>.load("repofile.json").tests)
    func repoFile(_ v: RepoFileVector) throws {
        let key = SymmetricKey(data: try #require(Hex.decode(v.key)))
        let stored = try #require(Hex.decode(v.stored))
        func open() throws -> [UInt8] {
            switch v.type {
            case "config": try JSONCoding.encode(try ConfigFile(sealed: stored, using: key))
            case "index": try JSONCoding.encode(try IndexFile(sealed: stored, using: key))
            default: try JSONCoding.encode(try SnapshotFile(sealed: stored, using: key))
            }
        }
        if v.result == "valid" {
            #expect(try open() == Hex.decode(v.plaintext))
        } else {
            #expect(throws: FormatError.self) { _ = try open() }
        }
    }

    @Test("key file vectors unlock to the recorded master key or fail", arguments: try VectorFile<KeyFileVector>.load("keyfile.json").tests)
    func keyFile(_ v: KeyFileVector) throws {
        if v.result == "valid" {
            let key = try KeyFile(parsing: Array(v.keyFile.utf8)).unlock(password: v.password)
            #expect(Hex.encode(key.secret.withUnsafeBytes { Array($0) }) == v.masterKey)
        } else {
            #expect(throws: FormatError.self, "\(v.comment)") { try KeyFile(parsing: Array(v.keyFile.utf8)).unlock(password: v.password) }
        }
    }
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

    @Test("repository JSON files round-trip and reject truncation and the wrong key", arguments: ["none", "gzip", "zstd"])
    func repoFiles(_ codec: String) throws {
        let key = MasterKey.generate().encryption
        let cfg = ConfigFile(id: String(repeating: "ab", count: 32))
        let sealed = try cfg.sealed(using: key, compression: try Compression(parsing: codec))
        let back = try ConfigFile(sealed: sealed, using: key)
        #expect(back.id == cfg.id && back.chunker == cfg.chunker && abs(back.created.timeIntervalSince(cfg.created)) < 0.001)
        #expect(throws: FormatError.self) { try ConfigFile(sealed: Array(sealed.dropLast()), using: key) }
        #expect(throws: FormatError.self) { try ConfigFile(sealed: sealed, using: MasterKey.generate().encryption) }
        // A config cannot be opened as a snapshot: the context is authenticated.
        #expect(throws: FormatError.self) { try SnapshotFile(sealed: sealed, using: key) }
    }

    @Test("a config of an unknown version does not validate")
    func futureConfig() {
        var future = ConfigFile(id: String(repeating: "ab", count: 32))
        future.version = 2
        #expect(throws: FormatError.self) { try future.validate() }
    }

    @Test("ref version names parse and format as SPEC §18 says", arguments: [
        (String(repeating: "c", count: 64) + "-0000000001", 1), (String(repeating: "0", count: 64) + "-9999999999", 9_999_999_999),
        (String(repeating: "a", count: 64) + "-0000000042", 42),
    ])
    func refVersionNames(_ name: String, _ version: Int) throws {
        let parsed = try RefVersion(fileName: name)
        #expect(parsed.version == version && parsed.ref == String(name.prefix(64)))
        #expect(parsed.fileName == name)
        #expect(try RefVersion(ref: parsed.ref, version: version) == parsed)
    }

    @Test("names that are not ref versions are refused", arguments: [
        String(repeating: "c", count: 64) + "-0000000000", String(repeating: "c", count: 64) + "-000000001", String(repeating: "c", count: 64) + "-00000000001",
        String(repeating: "C", count: 64) + "-0000000001", String(repeating: "c", count: 63) + "-00000000001", String(repeating: "c", count: 64) + "_0000000001",
        String(repeating: "c", count: 64) + "-00000000+1", String(repeating: "g", count: 64) + "-0000000001", "",
    ])
    func notRefVersions(_ name: String) {
        #expect(throws: FormatError.self) { try RefVersion(fileName: name) }
    }

    @Test("a snapshot file of another version is refused as unsupported", arguments: [0, 2])
    func snapshotVersion(_ version: Int) throws {
        let key = MasterKey.generate().encryption
        let tree = BlobID(ObjectID.hash([1]))
        let file = SnapshotFile(version: version, time: Date(), host: "h", username: "u", paths: ["/p"], tags: [], tree: tree, parent: nil, summary: .init())
        let error = #expect(throws: FormatError.self) { try SnapshotFile(sealed: try file.sealed(using: key), using: key) }
        #expect(error?.code == .unsupportedVersion)
    }

    @Test("a session file of another version is refused as unsupported")
    func sessionVersion() throws {
        let key = MasterKey.generate().encryption
        var file = SessionFile(
            time: Date(), host: "h", username: "u", message: "", ref: String(repeating: "a", count: 64), parent: nil,
            code: .init(remote: nil, repository: nil, branch: nil, commit: String(repeating: "0", count: 40), dirty: false, wip: false),
            conversation: .init(agent: .claude, agentVersion: nil, sessionID: "s", transcript: "t.jsonl", snapshot: SnapshotID(ObjectID.hash([2])),
                                messageCount: 0, size: 0, sha256: String(repeating: "0", count: 64), root: "/r", added: [0, 0]),
            terminal: .init(cwd: "", shell: nil, environment: [:]))
        #expect(try SessionFile(sealed: try file.sealed(using: key), using: key).version == 1)
        file.version = 2
        let error = #expect(throws: FormatError.self) { try SessionFile(sealed: try file.sealed(using: key), using: key) }
        #expect(error?.code == .unsupportedVersion)
    }

    @Test("IDs in repository JSON are lowercase: uppercase is refused, so re-encoding keeps the bytes")
    func uppercaseJSONID() throws {
        let id = ObjectID.hash([7]).hex
        #expect(try JSONDecoder().decode([BlobID].self, from: Data("[\"\(id)\"]".utf8)).first?.hex == id)
        #expect(throws: FormatError.self) { try JSONDecoder().decode([BlobID].self, from: Data("[\"\(id.uppercased())\"]".utf8)) }
    }

    @Test("a key file whose salt or sealed key has the wrong length is refused before scrypt runs", arguments: [("salt", 16), ("salt", 33), ("data", 59), ("data", 61)])
    func keyFileLengths(_ field: String, _ length: Int) throws {
        var file = try KeyFile.create(masterKey: MasterKey.generate(), password: "pw", parameters: .insecureTesting, host: "h", username: "u")
        let bytes = Data((0..<length).map { UInt8(truncatingIfNeeded: $0) }).base64EncodedString()
        if field == "salt" { file.salt = bytes } else { file.data = bytes }
        let error = #expect(throws: FormatError.self) { try KeyFile(parsing: try file.encoded()) }
        #expect(error?.code == .invalidEncoding)
    }

    @Test("a zstd payload must be exactly one frame: two frames, a skippable frame or trailing bytes are refused", arguments: ["two frames", "skippable first", "trailing byte"])
    func zstdOneFrame(_ shape: String) throws {
        let input = Array(String(repeating: "zstd frame ", count: 100).utf8)
        let frame = try Compression(codec: .zstd).compress(input)
        let (payload, length): ([UInt8], Int) = switch shape {
        case "two frames": (frame + frame, input.count * 2)
        case "skippable first": ([0x50, 0x2A, 0x4D, 0x18, 0, 0, 0, 0] + frame, input.count)
        default: (frame + [0], input.count)
        }
        #expect(try Compression.decompress(frame, codec: .zstd, rawLength: input.count) == input)
        let error = #expect(throws: FormatError.self) { try Compression.decompress(payload, codec: .zstd, rawLength: length) }
        #expect(error?.code == .compression)
    }

    /// Every `Format/SPEC.md §…` a comment in Sources cites names a section of the spec.
    @Test("SPEC citations in the sources name sections that exist")
    func specCitations() throws {
        let spec = try String(contentsOf: Paths.projectRoot.appendingPathComponent("Format/SPEC.md"), encoding: .utf8)
        let titles = spec.split(separator: "\n").compactMap { line in line.wholeMatch(of: /## [0-9]+ (.+)/).map { String($0.1) } }
        #expect(titles.count > 20)
        var bad: [String] = []
        let sources = Paths.projectRoot.appendingPathComponent("Sources")
        for case let path as String in FileManager.default.enumerator(atPath: sources.path)! where path.hasSuffix(".swift") {
            let text = try String(contentsOf: sources.appendingPathComponent(path), encoding: .utf8)
            for match in text.matches(of: /SPEC\.md §([A-Za-z][^\n]*)/) {
                let cited = String(match.1)
                let ok = titles.contains { title in
                    cited.hasPrefix(title) && (cited.count == title.count || !cited.dropFirst(title.count).first!.isLetter)
                }
                if !ok { bad.append("\(path): §\(cited.prefix(40))") }
            }
        }
        #expect(bad.isEmpty, "\(bad)")
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

