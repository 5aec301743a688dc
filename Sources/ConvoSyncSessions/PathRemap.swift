public import ConvoSyncFormat
import Foundation

/// Rewrites roots (a checkout's root, an agent's own folders) inside transcript bytes, without
/// parsing them. Implements Format/SPEC.md §22 (Path remapping), where every rule is written
/// down and `Format/vectors/remap.json` pins it.
///
/// A JSONL transcript names files by absolute path (`cwd`, tool inputs, tool results, `file://`
/// URIs). An occurrence of a rule's `from` is rewritten when it starts a path (the byte before
/// it is no path byte, or it follows a JSON escape such as `\n`) and ends one (the next byte is
/// no path byte, or a `.` that ends a sentence), so `/home/a/proj` maps and `/home/a/proj2`,
/// `/home/a/proj.old` and `/x/home/a/proj` do not. Every root is also matched as JSON writers
/// may escape it (`\/`, `\"`, `\\`) and inside `file://` URIs (percent-encoded). One pass, left
/// to right, the longest pattern first at each place: replaced text is never scanned again.
public struct PathRemap: Sendable {
    /// One root and what it becomes.
    public struct Rule: Sendable, Hashable {
        public var from: String
        public var to: String
        public init(from: String, to: String) { (self.from, self.to) = (from, to) }
    }

    public let rules: [Rule]
    /// Every pattern's bytes, one after the other (longest first), so that the scan compares
    /// through one pointer with no reference counting per try; `ranges[k]` is pattern k.
    private let patternBytes: [UInt8]
    private let ranges: [Range<Int>]
    private let replacements: [[UInt8]]
    private let firstBytes: [Bool]

    /// Rules whose `from` is empty or equal to `to` are dropped.
    public init(_ rules: [Rule]) {
        self.rules = rules.filter { !$0.from.isEmpty && $0.from != $0.to }
        var pairs: [([UInt8], [UInt8])] = []
        for rule in self.rules {
            for (pattern, replacement) in Self.patterns(of: rule) where !pairs.contains(where: { $0.0 == pattern }) {
                pairs.append((pattern, replacement))
            }
        }
        // Longest first, so that a root inside a longer root (a checkout inside the home whose
        // agent folder is also remapped) never takes the longer one's place. Stable: rule order
        // breaks ties.
        let sorted = pairs.enumerated().sorted { a, b in
            a.element.0.count != b.element.0.count ? a.element.0.count > b.element.0.count : a.offset < b.offset
        }.map(\.element)
        var bytes: [UInt8] = []
        var ranges: [Range<Int>] = []
        var first = [Bool](repeating: false, count: 256)
        for (pattern, _) in sorted {
            ranges.append(bytes.count..<(bytes.count + pattern.count))
            bytes += pattern
            first[Int(pattern[0])] = true
        }
        (patternBytes, self.ranges, replacements, firstBytes) = (bytes, ranges, sorted.map(\.1), first)
    }

    public init(from: String, to: String) { self.init([Rule(from: from, to: to)]) }

    public var from: String { rules.first?.from ?? "" }
    public var to: String { rules.first?.to ?? "" }
    public var isIdentity: Bool { rules.isEmpty }

    /// The rule run the other way (for the way back).
    public var inverted: PathRemap { PathRemap(rules.map { Rule(from: $0.to, to: $0.from) }) }

    /// What one rule looks for, and what it writes instead (SPEC §22's pattern table).
    static func patterns(of rule: Rule) -> [([UInt8], [UInt8])] {
        let escFrom = jsonEscaped(rule.from), escTo = jsonEscaped(rule.to)
        let uriFrom = "file://" + fileURIPath(rule.from), uriTo = "file://" + fileURIPath(rule.to)
        let candidates = [
            (rule.from, escTo),  // every occurrence lies inside a JSON string: written escaped
            (escFrom, escTo),
            (slashed(escFrom), slashed(escTo)),
            (uriFrom, uriTo),
            (slashed(uriFrom), slashed(uriTo)),
        ]
        var out: [([UInt8], [UInt8])] = []
        for (p, r) in candidates where !out.contains(where: { $0.0 == Array(p.utf8) }) {
            out.append((Array(p.utf8), Array(r.utf8)))
        }
        return out
    }

    /// Where one device keeps what a transcript names: the checkout's root, the directory the
    /// agent was started in (relative to the root), and the agent's own directory.
    public struct Places: Sendable {
        public var root: String
        public var launch: String?
        public var agentDirectory: String?
        public init(root: String, launch: String?, agentDirectory: String?) {
            (self.root, self.launch, self.agentDirectory) = (root, launch, agentDirectory)
        }

        /// Claude Code's project folder for the launch directory, under the agent directory.
        func claudeProjectFolder() -> String? {
            guard let agentDirectory, let launch else { return nil }
            let dir = launch.isEmpty ? root : (root as NSString).appendingPathComponent(launch)
            return agentDirectory + "/projects/" + AgentLayout.claudeProjectFolder(for: dir)
        }
    }

    /// The rules that rewrite what one device's transcript names into another's (SPEC §22):
    /// the root, and where both have an agent directory, Claude Code's project folder and
    /// the agent directory itself.
    public init(agent: SessionFile.Agent, from: Places, to: Places) {
        var rules = [Rule(from: from.root, to: to.root)]
        if let fromAgent = from.agentDirectory, let toAgent = to.agentDirectory {
            if agent == .claude, let a = from.claudeProjectFolder(), let b = to.claudeProjectFolder() { rules.append(Rule(from: a, to: b)) }
            rules.append(Rule(from: fromAgent, to: toAgent))
        }
        self.init(rules)
    }

    /// `bytes` with every occurrence that starts and ends a path replaced.
    public func apply(_ bytes: [UInt8]) -> [UInt8] {
        guard !isIdentity, !bytes.isEmpty else { return bytes }
        var out: [UInt8] = []
        var copied = 0
        bytes.withUnsafeBufferPointer { b in
            patternBytes.withUnsafeBufferPointer { pb in
                ranges.withUnsafeBufferPointer { pr in
                    firstBytes.withUnsafeBufferPointer { fb in
                        var i = 0
                        let count = b.count
                        scan: while i < count {
                            guard fb[Int(b[i])] else {
                                i += 1
                                continue
                            }
                            for k in 0..<pr.count where pr[k].count <= count - i {
                                let r = pr[k]
                                guard memcmp(b.baseAddress! + i, pb.baseAddress! + r.lowerBound, r.count) == 0,  // invariant: both non-empty
                                      Self.isEnd(b, at: i + r.count), Self.isStart(b, at: i) else { continue }
                                if out.isEmpty { out.reserveCapacity(count + 64) }
                                out.append(contentsOf: b[copied..<i])
                                out.append(contentsOf: replacements[k])
                                i += r.count
                                copied = i
                                continue scan
                            }
                            i += 1
                        }
                    }
                }
            }
        }
        if copied == 0 { return bytes }
        out.append(contentsOf: bytes[copied...])
        return out
    }

    /// A byte that may be part of a file name: `0-9 A-Z a-z . _ -` and every byte of a
    /// non-ASCII character.
    static func isNameByte(_ c: UInt8) -> Bool {
        (48...57).contains(c) || (65...90).contains(c) || (97...122).contains(c)
            || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-") || c >= 0x80
    }

    /// An occurrence ends a path at `j`: at the end, before an ASCII byte that is no name
    /// byte, before a `.` that is not followed by a name byte (a sentence's full stop), or
    /// before a non-ASCII punctuation or space character (`’`, `。`, a no-break space).
    static func isEnd(_ b: UnsafeBufferPointer<UInt8>, at j: Int) -> Bool {
        guard j < b.count else { return true }
        let c = b[j]
        if c >= 0x80 { return scalar(in: b, startingAt: j).map(isPunctuationOrSpace) ?? false }
        if !isNameByte(c) { return true }
        return c == UInt8(ascii: ".") && (j + 1 == b.count || !isNameByte(b[j + 1]) || (b[j + 1] >= 0x80 && isEnd(b, at: j + 1)))
    }

    /// An occurrence starts a path at `i`: at the start; after an ASCII byte that is neither a
    /// name byte nor `/` (so `/x/home/a` does not contain the root `/home/a`); after a
    /// non-ASCII punctuation or space character (`‘`, `「`); right after an escape `\n` `\t`
    /// `\r` `\b` `\f` (one or more backslashes before the letter: JSON, or JSON inside JSON);
    /// or right after a terminal colour code (`ESC [ 0;90 m`, the ESC raw or as `\u001b`).
    static func isStart(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> Bool {
        guard i > 0 else { return true }
        let before = b[i - 1]
        if before >= 0x80 { return scalar(in: b, endingAt: i).map(isPunctuationOrSpace) ?? false }
        if !isNameByte(before) { return before != UInt8(ascii: "/") }
        if i >= 2, b[i - 2] == UInt8(ascii: "\\"), "ntrbf".utf8.contains(before) { return true }
        return before == UInt8(ascii: "m") && followsColourCode(b, at: i - 1)
    }

    /// Whether `ESC [` and digits or `;` come before the `m` at `m`.
    static func followsColourCode(_ b: UnsafeBufferPointer<UInt8>, at m: Int) -> Bool {
        var k = m - 1
        while k >= 0, (48...57).contains(b[k]) || b[k] == UInt8(ascii: ";") { k -= 1 }
        guard k >= 1, b[k] == UInt8(ascii: "[") else { return false }
        if b[k - 1] == 0x1B { return true }
        guard k >= 6 else { return false }
        let escape = Array(b[(k - 6)..<k])
        return escape == Array("\\u001b".utf8) || escape == Array("\\u001B".utf8)
    }

    /// The character whose UTF-8 bytes start at `j` (nil if they are not valid UTF-8).
    static func scalar(in b: UnsafeBufferPointer<UInt8>, startingAt j: Int) -> Unicode.Scalar? {
        let lead = b[j]
        let length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 0
        guard length > 0, j + length <= b.count else { return nil }
        return String(validating: b[j..<(j + length)], as: UTF8.self)?.unicodeScalars.first
    }

    /// The character whose UTF-8 bytes end just before `i` (nil if they are not valid UTF-8).
    static func scalar(in b: UnsafeBufferPointer<UInt8>, endingAt i: Int) -> Unicode.Scalar? {
        var j = i - 1
        while j > 0, j > i - 4, (0x80...0xBF).contains(b[j]) { j -= 1 }
        guard let scalar = scalar(in: b, startingAt: j), String(scalar).utf8.count == i - j else { return nil }
        return scalar
    }

    /// Unicode general categories P* (punctuation) and Z* (separators).
    static func isPunctuationOrSpace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
             .finalPunctuation, .otherPunctuation, .spaceSeparator, .lineSeparator, .paragraphSeparator:
            true
        default: false
        }
    }

    /// `"` and `\` escaped as inside a JSON string.
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

    /// Every `/` written `\/`, as some JSON writers do.
    static func slashed(_ text: String) -> String { text.replacingOccurrences(of: "/", with: "\\/") }

    /// A path as the path of a `file://` URI, as Node's `url.pathToFileURL` writes it: every
    /// UTF-8 byte that is a control, space, non-ASCII or one of `" # % < > ? \` { } \` becomes
    /// `%XX` (upper-case hex); the rest stays.
    static func fileURIPath(_ path: String) -> String {
        let encoded: Set<UInt8> = Set("\"#%<>?`{}\\".utf8)
        var out = ""
        for byte in path.utf8 {
            if byte <= 0x20 || byte >= 0x7F || encoded.contains(byte) {
                out += String(format: "%%%02X", byte)
            } else {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            }
        }
        return out
    }
}
