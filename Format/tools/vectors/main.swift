// Writes Format/vectors/{envelope,pack,chunker,keyfile}.json. The tests only read them: a
// vector file changes only with a new format version (Format/SPEC.md §27, §28), never to make
// a test pass. Run from the project root: `swift run -c release convosync-vectors`.
// keyfile.json's tcId 7 and up come from an independent implementation: run
// `python3 Format/tools/keyfile_edges.py` after this. Nonces and salts are random, so a run
// changes the bytes of pack.json and keyfile.json even when nothing else changed.
import ConvoSyncFormat
import ConvoSyncTestSupport
import Crypto
import Foundation

struct VectorGroupOut<U: Encodable>: Encodable { var tests: [U] }
struct VectorFileOut<U: Encodable>: Encodable {
    var algorithm: String; var specVersion = 1; var numberOfTests: Int; var header: [String]; var notes: String; var testGroups: [VectorGroupOut<U>]
}

func writeVectorFile<T: Encodable>(_ name: String, algorithm: String, notes: String, tests: [T]) throws {
    let f = VectorFileOut(algorithm: algorithm, numberOfTests: tests.count, header: ["Format/SPEC.md"], notes: notes, testGroups: [VectorGroupOut(tests: tests)])
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys]
    try e.encode(f).write(to: URL(fileURLWithPath: "Format/vectors").appendingPathComponent(name))
}

extension UInt32 {
    var littleEndianBytes: [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: self >> ($0 * 8)) } }
}

let vectorKey = SymmetricKey(data: (0..<32).map { UInt8($0) })

func envelope() throws {
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

func pack() throws {
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
    v2Sealed += UInt32(v2Sealed.count).littleEndianBytes
    var badType = header.encoded(); badType[4 + 1 + 4 + 13] = 9
    var badTypeSealed = try Envelope.seal(badType, using: vectorKey, context: .packHeader)
    badTypeSealed += UInt32(badTypeSealed.count).littleEndianBytes
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

func chunker() throws {
    let chunker = Chunker(parameters: .default)
    var tests: [ChunkerVector] = []
    for (i, (seed, len)) in [(1, 0), (2, 1000), (3, 300_000), (4, 1 << 20)].enumerated() {
        var rng = SplitMix64(seed: UInt64(seed))
        let data = rng.bytes(len)
        tests.append(ChunkerVector(tcId: i + 1, comment: "SplitMix64(seed: \(seed)) bytes", seed: UInt64(seed), length: len, chunkLengths: chunker.boundaries(of: data).map(\.count), result: "valid"))
    }
    try writeVectorFile("chunker.json", algorithm: "FastCDC-style, default parameters", notes: "input = SplitMix64 bytes (low byte of each output)", tests: tests)
}

func keyFiles() throws {
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

guard FileManager.default.fileExists(atPath: "Format/vectors") else {
    FileHandle.standardError.write(Data("run this from the project root (Format/vectors not found)\n".utf8))
    exit(64)
}
try envelope()
try pack()
try chunker()
try keyFiles()
print("wrote Format/vectors/envelope.json, pack.json, chunker.json, keyfile.json")
