public import ConvoSyncFormat

/// Decides which message ranges a conversation's new snapshot references.
///
/// Implements Format/SPEC.md §Conversation ranges:
/// - Messages [k·1000, (k+1)·1000) that are all present form one *consolidated* range.
/// - Messages after the last complete block form *delta* ranges, one per save.
/// - A parent range is reused when it starts where the previous reused range ended, is
///   either consolidated or lies in the final incomplete block, and its messages are
///   unchanged. The first range that fails ends reuse; everything after it is written anew.
///
/// So appending 50 messages to an 800-message conversation reuses [0, 800) and adds one
/// range [800, 850); crossing 1000 rewrites the block as one range.
public enum ConversationRanges {
    public struct Plan: Equatable, Sendable {
        /// Parent ranges kept as they are.
        public var reused: [Tree.RangeRef]
        /// New ranges to write, each as a full ``MessageRange``.
        public var new: [MessageRange]
    }

    public static func plan(messages: [[BlobID]], parent: [(Tree.RangeRef, MessageRange)]) -> Plan {
        let block = MessageRange.consolidationSize
        let count = messages.count
        let lastBlockStart = (count / block) * block
        var reused: [Tree.RangeRef] = []
        var position = 0
        for (ref, range) in parent {
            // Only comparisons until start and end are known to be in [0, count]: they come from storage.
            guard ref.start == position, ref.end <= count, ref.end > ref.start,
                  (ref.start % block == 0 && ref.end - ref.start == block) || ref.start >= lastBlockStart,
                  range.start == ref.start, range.end == ref.end,
                  Array(messages[ref.start..<ref.end]) == range.messages
            else { break }
            reused.append(ref)
            position = ref.end
        }
        var new: [MessageRange] = []
        // Reused delta ranges lie in the last block, so `position` is block-aligned while blocks remain.
        while position + block <= count, position % block == 0 {
            new.append(MessageRange(start: position, messages: Array(messages[position..<(position + block)])))
            position += block
        }
        if position < count {
            new.append(MessageRange(start: position, messages: Array(messages[position..<count])))
        }
        return Plan(reused: reused, new: new)
    }
}
