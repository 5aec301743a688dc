/// Little-endian writer and bounds-checked reader for the spec's binary structures.
struct ByteWriter {
    var bytes: [UInt8] = []
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) {
        for s in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt32(s))) }
    }
    mutating func raw<C: Collection>(_ b: C) where C.Element == UInt8 { bytes.append(contentsOf: b) }
}

struct ByteReader {
    let bytes: [UInt8]
    var position = 0
    let what: String

    init(_ bytes: [UInt8], what: String) { (self.bytes, self.what) = (bytes, what) }

    var remaining: Int { bytes.count - position }

    mutating func u8() throws(FormatError) -> UInt8 {
        try need(1)
        defer { position += 1 }
        return bytes[position]
    }

    mutating func u32() throws(FormatError) -> UInt32 {
        try need(4)
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(bytes[position + i]) << UInt32(8 * i) }
        position += 4
        return v
    }

    mutating func raw(_ n: Int) throws(FormatError) -> ArraySlice<UInt8> {
        try need(n)
        defer { position += n }
        return bytes[position..<(position + n)]
    }

    func need(_ n: Int) throws(FormatError) {
        guard remaining >= n else {
            throw FormatError(.truncated, "\(what) is truncated: needs \(n) more bytes at offset \(position), has \(remaining)")
        }
    }
}

extension FixedWidthInteger {
    /// Little-endian bytes.
    var littleEndianBytes: [UInt8] {
        (0..<(Self.bitWidth / 8)).map { UInt8(truncatingIfNeeded: self >> ($0 * 8)) }
    }
}
