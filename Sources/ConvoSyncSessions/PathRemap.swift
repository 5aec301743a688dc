import Foundation

/// Rewrites one repository root to another inside transcript bytes.
///
/// A JSONL transcript names files by absolute path (`cwd`, tool inputs, tool results). Each
/// occurrence of `from` that ends at a path boundary (the next byte is not a letter, digit,
/// `.`, `_` or `-`) and does not continue a longer path (the byte before is none of those
/// nor `/`) becomes `to`, so `/home/a/proj` maps and `/home/a/proj2` or `/x/home/a/proj` do not. The
/// root is matched as it appears inside a JSON string (with `/` and `"` escaped as JSON
/// writers may escape them), and everything else is left byte for byte.
public struct PathRemap: Sendable {
    public let from: String
    public let to: String
    private let patterns: [([UInt8], [UInt8])]

    public init(from: String, to: String) {
        self.from = from
        self.to = to
        // Transcripts are JSON lines, so every occurrence lies inside a JSON string: the
        // replacement is always written JSON-escaped.
        let escapedFrom = Self.jsonEscaped(from)
        let escapedTo = Self.jsonEscaped(to)
        var pairs = [(Array(from.utf8), Array(escapedTo.utf8))]
        if escapedFrom != from { pairs.append((Array(escapedFrom.utf8), Array(escapedTo.utf8))) }
        let slashedFrom = escapedFrom.replacingOccurrences(of: "/", with: "\\/")
        if slashedFrom != escapedFrom { pairs.append((Array(slashedFrom.utf8), Array(escapedTo.replacingOccurrences(of: "/", with: "\\/").utf8))) }
        patterns = pairs
    }

    public var isIdentity: Bool { from == to }

    /// `bytes` with every boundary-ending occurrence of the root replaced.
    public func apply(_ bytes: [UInt8]) -> [UInt8] {
        guard !isIdentity else { return bytes }
        var current = bytes
        for (pattern, replacement) in patterns where !pattern.isEmpty {
            current = Self.replace(pattern, with: replacement, in: current)
        }
        return current
    }

    static func replace(_ pattern: [UInt8], with replacement: [UInt8], in bytes: [UInt8]) -> [UInt8] {
        guard bytes.count >= pattern.count else { return bytes }
        var out: [UInt8] = []
        var copied = 0
        var i = 0
        let first = pattern[0]
        let last = bytes.count - pattern.count
        bytes.withUnsafeBufferPointer { b in
            pattern.withUnsafeBufferPointer { p in
                while i <= last {
                    guard let hit = memchr(b.baseAddress! + i, Int32(first), last - i + 1) else { break }  // invariant: i <= last < count
                    i = b.baseAddress!.distance(to: hit.assumingMemoryBound(to: UInt8.self))  // invariant: as above
                    if memcmp(b.baseAddress! + i, p.baseAddress!, p.count) == 0, isBoundary(b, at: i + p.count), isStart(b, at: i) {  // invariant: pattern not empty
                        if out.isEmpty { out.reserveCapacity(bytes.count + 64) }
                        out.append(contentsOf: b[copied..<i])
                        out.append(contentsOf: replacement)
                        i += p.count
                        copied = i
                    } else {
                        i += 1
                    }
                }
            }
        }
        if copied == 0 { return bytes }
        out.append(contentsOf: bytes[copied...])
        return out
    }

    /// A root starts a path: the byte before it is not part of a longer path (`/x/home/a`
    /// does not contain the root `/home/a`).
    static func isStart(_ b: UnsafeBufferPointer<UInt8>, at index: Int) -> Bool {
        guard index > 0 else { return true }
        return isBoundary(b, at: index - 1) && b[index - 1] != UInt8(ascii: "/")
    }

    static func isBoundary(_ b: UnsafeBufferPointer<UInt8>, at index: Int) -> Bool {
        guard index < b.count else { return true }
        let c = b[index]
        let isWordByte = (48...57).contains(c) || (65...90).contains(c) || (97...122).contains(c)
            || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-") || c >= 0x80
        return !isWordByte
    }

    static func jsonEscaped(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
