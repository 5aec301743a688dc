#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Implements Format/SPEC.md §10 (Messages): a conversation is split at every LF into messages
/// (no message includes an LF; a CR stays; an empty line is an empty message), with
/// `finalNewline` telling whether the content ended with an LF; joining them gives the content
/// back byte for byte. This is the one place that decides where a message ends.
///
/// Streaming use (a reader that refills a buffer):
/// ```swift
/// var splitter = MessageSplitter()
/// while let buffer = read() {
///     let (messages, consumed) = splitter.messages(in: buffer)   // complete messages only
///     … keep buffer[consumed...] for the next read …
/// }
/// let (last, finalNewline) = splitter.finish(rest: leftover)
/// ```
public struct MessageSplitter: Sendable {
    /// Messages found so far.
    public private(set) var count = 0
    private var sawBytes = false

    public init() {}

    /// The complete messages in `buffer` (ranges into it, without their LF), and how many of
    /// its bytes they used (through the last LF); the rest belongs to the next message.
    public mutating func messages(in buffer: UnsafeBufferPointer<UInt8>) -> (messages: [Range<Int>], consumed: Int) {
        if !buffer.isEmpty { sawBytes = true }
        var out: [Range<Int>] = []
        var start = 0
        while start < buffer.count, let base = buffer.baseAddress,
              let p = memchr(base + start, 0x0A, buffer.count - start) {
            let end = base.distance(to: p.assumingMemoryBound(to: UInt8.self))
            out.append(start..<end)
            start = end + 1
        }
        count += out.count
        return (out, start)
    }

    /// At the end of the input: `rest` is what no LF ended (empty when the content ended with
    /// an LF, or was empty). Returns it as the last message if it is not empty, and `finalNewline`.
    public mutating func finish(restCount: Int) -> (lastMessage: Bool, finalNewline: Bool) {
        if restCount > 0 {
            count += 1
            return (true, false)
        }
        return (false, sawBytes)
    }

    /// Splits whole content (for tests and small inputs).
    public static func split(_ content: [UInt8]) -> (messages: [[UInt8]], finalNewline: Bool) {
        var splitter = MessageSplitter()
        let (ranges, consumed) = content.withUnsafeBufferPointer { splitter.messages(in: $0) }
        var messages = ranges.map { Array(content[$0]) }
        let (last, finalNewline) = splitter.finish(restCount: content.count - consumed)
        if last { messages.append(Array(content[consumed...])) }
        return (messages, finalNewline)
    }

    /// Whether `messageCount` and `finalNewline` describe content that splitting can produce:
    /// with no message the content was empty, so it did not end with an LF.
    public static func validate(messageCount: Int, finalNewline: Bool) throws(FormatError) {
        guard messageCount > 0 || !finalNewline else {
            throw FormatError(.invalidEncoding, "a conversation of 0 messages cannot end with a line feed (\"\\n\" is one empty message)")
        }
    }

    /// Joins messages back: `m0 LF m1 … LF m(n-1)`, then an LF if `finalNewline`.
    public static func join(_ messages: [[UInt8]], finalNewline: Bool) throws(FormatError) -> [UInt8] {
        try validate(messageCount: messages.count, finalNewline: finalNewline)
        var out: [UInt8] = []
        for (i, m) in messages.enumerated() {
            if i > 0 { out.append(0x0A) }
            out += m
        }
        if finalNewline { out.append(0x0A) }
        return out
    }
}
