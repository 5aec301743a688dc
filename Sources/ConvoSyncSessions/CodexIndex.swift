import Foundation
import GRDB

/// Codex's own index of its threads: `state_<n>.sqlite` in its home, table `threads`. Its
/// resume picker (`codex resume`) lists what that table holds, not what `sessions/` holds, so a
/// rollout that a resume writes is missing from the picker until Codex indexes it. Codex fills
/// the table by scanning every rollout while `backfill_state` says the scan is not complete
/// (its first start does this); a resume asks for that scan again rather than writing rows of
/// a schema that is Codex's to change. Measured with Codex 0.147.0 (the `threads` schema at
/// migration 46): the picker lists the synced rollout at its next start.
public enum CodexIndex {
    /// What happened to the index.
    public enum Outcome: String, Sendable, Codable {
        /// No state database: Codex indexes every rollout when it first creates one.
        case noIndex = "no index yet"
        /// The thread is indexed at this path already.
        case indexed = "already indexed"
        /// The thread's row pointed at another file; it now points at this one.
        case moved = "index entry moved to the new file"
        /// Codex will index the rollout at its next start.
        case rescan = "Codex rescans its sessions at its next start"
    }

    /// The newest state database in `codexHome` (`state_5.sqlite`), if any.
    static func database(codexHome: String) -> String? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: codexHome)) ?? []
        let versions = names.compactMap { name -> (Int, String)? in
            guard name.hasPrefix("state_"), name.hasSuffix(".sqlite"), let n = Int(name.dropFirst(6).dropLast(7)) else { return nil }
            return (n, name)
        }
        return versions.max { $0.0 < $1.0 }.map { (codexHome as NSString).appendingPathComponent($0.1) }
    }

    /// Makes Codex list `thread` (whose rollout is now at `rollout`) in its picker.
    public static func refresh(codexHome: String, thread: String, rollout: String) throws -> Outcome {
        guard let path = database(codexHome: codexHome) else { return .noIndex }
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        defer { try? queue.close() }
        return try queue.write { db in
            guard try db.tableExists("threads"), try db.tableExists("backfill_state") else { return .noIndex }
            if let indexed = try String.fetchOne(db, sql: "SELECT rollout_path FROM threads WHERE id = ?", arguments: [thread]) {
                if indexed == rollout { return .indexed }
                try db.execute(sql: "UPDATE threads SET rollout_path = ? WHERE id = ?", arguments: [rollout, thread])
                return .moved
            }
            try db.execute(sql: "UPDATE backfill_state SET status = 'pending', last_watermark = NULL")
            return .rescan
        }
    }
}
