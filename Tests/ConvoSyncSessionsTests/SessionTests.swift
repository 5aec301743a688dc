import ConvoSync
import ConvoSyncFormat
import ConvoSyncSessions
import ConvoSyncStorage
import ConvoSyncTestSupport
import Foundation
import Testing

func expectError(_ code: ConvoSyncError.Code, _ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) async {
    do {
        try await body()
        Issue.record("expected a \(code) error", sourceLocation: sourceLocation)
    } catch let error as ConvoSyncError {
        #expect(error.code == code, "got \(error.code): \(error.message)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}

@Suite("Sessions: save and resume across two devices", .serialized)
struct SessionTests {
    @Test("save on one device, resume on another: code, transcript with local paths, subagents")
    func firstSaveAndResume() async throws {
        let d = try await TwoDevices()
        let transcript = try d.placeClaudeSession(on: d.a, lines: 0..<800)
        try "change\n".write(toFile: d.a.checkout + "/feature.txt", atomically: true, encoding: .utf8)

        let saved = try await d.save(d.a, "Implementing OAuth")
        #expect(saved.committed && saved.pushed)
        #expect(saved.messages == 800 && saved.added == [0, 800])
        #expect(saved.fork == nil)
        #expect(try d.a.git.head() == saved.commit)
        #expect(try TwoDevices.sh(["git", "ls-remote", d.remote, "refs/heads/main"], in: d.temp.path).hasPrefix(saved.commit))

        let resumed = try await d.resume(d.b)
        #expect(resumed.session == saved.session && resumed.commit == saved.commit)
        #expect(try d.b.git.head() == saved.commit)
        #expect(FileManager.default.fileExists(atPath: d.b.checkout + "/feature.txt"))
        // Where Claude Code on B looks, with B's paths, byte for byte otherwise.
        let expectedPath = d.b.claudeProjects + "/" + AgentLayout.claudeProjectFolder(for: d.b.checkout) + "/\(TwoDevices.claudeID).jsonl"
        #expect(resumed.transcript == expectedPath)
        let onB = try d.read(expectedPath)
        #expect(onB == PathRemap(from: d.a.checkout, to: d.b.checkout).apply(try d.read(transcript)))
        #expect(onB == (try TwoDevices.corpus(TwoDevices.claudeFile, lines: 0..<800, originalRoot: TwoDevices.claudeRoot, root: d.b.checkout)))
        #expect(!String(decoding: onB, as: UTF8.self).contains(d.a.checkout))
        for (name, file) in TwoDevices.subagents {
            let sub = try d.read((expectedPath as NSString).deletingPathExtension + "/subagents/\(name)")
            #expect(sub == (try TwoDevices.corpus(file, originalRoot: TwoDevices.claudeRoot, root: d.b.checkout)))
        }
        #expect(resumed.next == "cd \(d.b.checkout) && claude --resume \(TwoDevices.claudeID)")
    }

    @Test("an incremental save stores only the new messages, and resume brings them")
    func incrementalSave() async throws {
        let d = try await TwoDevices()
        let transcript = try d.placeClaudeSession(on: d.a, lines: 0..<800, subagents: false)
        let first = try await d.save(d.a, "first")
        try d.append(lines: 800..<850, to: transcript, on: d.a)
        let second = try await d.save(d.a, "second")
        #expect(second.added == [800, 850])
        #expect(second.version == first.version + 1)
        #expect(second.bytesAdded < 40_000, "added \(second.bytesAdded) B for 50 messages")

        _ = try await d.resume(d.b)
        let onB = try d.read(d.b.claudeProjects + "/" + AgentLayout.claudeProjectFolder(for: d.b.checkout) + "/\(TwoDevices.claudeID).jsonl")
        #expect(onB == (try TwoDevices.corpus(TwoDevices.claudeFile, lines: 0..<850, originalRoot: TwoDevices.claudeRoot, root: d.b.checkout)))

        // B continues and saves; its own paths are mapped back, so [0, 850) is reused.
        let bPath = d.b.claudeProjects + "/" + AgentLayout.claudeProjectFolder(for: d.b.checkout) + "/\(TwoDevices.claudeID).jsonl"
        try d.append(lines: 850..<900, to: bPath, on: d.b)
        let third = try await d.save(d.b, "from the phone")
        #expect(third.fork == nil && third.added == [850, 900])
        #expect(third.bytesAdded < 40_000, "B's paths map back, so B's save adds only its 50 messages")
        // And A gets B's messages with A's paths.
        let back = try await d.resume(d.a)
        #expect(back.messages == 900)
        #expect(try d.read(transcript) == (try TwoDevices.corpus(TwoDevices.claudeFile, lines: 0..<900, originalRoot: TwoDevices.claudeRoot, root: d.a.checkout)))
    }

    /// OQ 23 (SPEC): a save that fast-forwards past a head it did not know takes that head as
    /// its parent, and counts only the messages after it as added.
    @Test("a fast-forward past an unrecorded head makes that head the parent")
    func fastForwardParent() async throws {
        let d = try await TwoDevices()
        let transcript = try d.placeClaudeSession(on: d.a, lines: 0..<100, subagents: false)
        _ = try await d.save(d.a, "first")
        // The device state as it was after the first save, as if the second save's record were lost.
        let stateDirectory = DeviceState.directory(environment: d.a.environment)
        let copy = d.temp.path + "/state-after-first"
        try FileManager.default.copyItem(atPath: stateDirectory, toPath: copy)
        try d.append(lines: 100..<110, to: transcript, on: d.a)
        let second = try await d.save(d.a, "second")
        try FileManager.default.removeItem(atPath: stateDirectory)
        try FileManager.default.moveItem(atPath: copy, toPath: stateDirectory)

        try d.append(lines: 110..<120, to: transcript, on: d.a)
        let third = try await d.save(d.a, "third")
        #expect(third.fork == nil && third.version == second.version + 1)
        #expect(third.added == [110, 120])
        let record = try await d.repository.load(SessionFile.self, id: try SessionID(hex: third.session))
        #expect(record.parent?.hex == second.session)
    }

    /// OQ 23 (SPEC): a transcript saved while its last line was still being written; that line,
    /// completed later, is one of the next save's added messages.
    @Test("a last line saved without its newline and completed later counts as added")
    func completedLastLine() async throws {
        let d = try await TwoDevices()
        let transcript = try d.placeClaudeSession(on: d.a, lines: 0..<100, subagents: false)
        let line = try TwoDevices.corpus(TwoDevices.claudeFile, lines: 100..<101, originalRoot: TwoDevices.claudeRoot, root: d.a.checkout)
        try d.append(raw: Array(line.prefix(line.count / 2)), to: transcript)
        let first = try await d.save(d.a, "mid-line")
        #expect(first.messages == 101)
        try d.append(raw: Array(line.dropFirst(line.count / 2)), to: transcript)
        try d.append(lines: 101..<105, to: transcript, on: d.a)
        let second = try await d.save(d.a, "completed")
        #expect(second.added == [100, 105])
    }

    @Test("+50 messages on the generated 800-message session: save adds ≤ 1.10 × gzip -9 of the new lines + 4 KiB")
    func incrementalSizeTarget() async throws {
        let d = try await TwoDevices()
        let generated = try generateSession(messages: 850, seed: 1)
        let lines = generated.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        let remap = PathRemap(from: "/home/dev/work/project", to: d.a.checkout)
        let first800 = Array(lines[0..<800].map { Array($0) + [UInt8(ascii: "\n")] }.joined())
        let next50 = Array(lines[800..<850].map { Array($0) + [UInt8(ascii: "\n")] }.joined())
        let dir = d.a.claudeProjects + "/" + AgentLayout.claudeProjectFolder(for: d.a.checkout)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/0b7f6a53-5b8e-4a33-9d2c-3f1d2e4c5a61.jsonl"
        try Data(remap.apply(first800)).write(to: URL(fileURLWithPath: path))
        _ = try await d.save(d.a, "800")
        let appended = remap.apply(next50)
        try d.append(raw: appended, to: path)
        let second = try await d.save(d.a, "850")
        // The new lines as this device wrote them (with its checkout's paths).
        let gz = try Compression.default.compress(appended).count
        #expect(second.added == [800, 850])
        #expect(Double(second.bytesAdded) <= 1.10 * Double(gz) + 4096, "added \(second.bytesAdded) B for 50 messages (gzip -9 of them: \(gz) B)")
    }

    @Test("resume refuses a dirty working tree and changes nothing")
    func dirtyTreeRefused() async throws {
        let d = try await TwoDevices()
        _ = try d.placeClaudeSession(on: d.a, lines: 0..<100, subagents: false)
        try "v2\n".write(toFile: d.a.checkout + "/README.md", atomically: true, encoding: .utf8)
        _ = try await d.save(d.a, "v2")
        try "local edit\n".write(toFile: d.b.checkout + "/README.md", atomically: true, encoding: .utf8)
        let before = try d.b.git.head()
        await expectError(.unsafeCodeState) { _ = try await d.resume(d.b) }
        #expect(try d.b.git.head() == before)
        #expect(try String(contentsOfFile: d.b.checkout + "/README.md", encoding: .utf8) == "local edit\n")
        #expect(!FileManager.default.fileExists(atPath: d.b.claudeProjects), "no transcript is written when the code cannot follow")
    }

    @Test("resume refuses a diverged branch; --force moves it")
    func divergedBranchRefused() async throws {
        let d = try await TwoDevices()
        _ = try d.placeClaudeSession(on: d.a, lines: 0..<100, subagents: false)
        try "a\n".write(toFile: d.a.checkout + "/a.txt", atomically: true, encoding: .utf8)
        let saved = try await d.save(d.a, "on A")
        // B commits something of its own on main without pulling.
        try "b\n".write(toFile: d.b.checkout + "/b.txt", atomically: true, encoding: .utf8)
        try TwoDevices.sh(["git", "add", "-A"], in: d.b.checkout)
        try TwoDevices.sh(["git", "commit", "--quiet", "-m", "on B"], in: d.b.checkout)
        let bTip = try d.b.git.head()
        await expectError(.unsafeCodeState) { _ = try await d.resume(d.b) }
        #expect(try d.b.git.head() == bTip)
        let forced = try await d.resume(d.b, force: true)
        #expect(forced.codeAction.contains("--force"))
        #expect(try d.b.git.head() == saved.commit)
    }

    @Test("two devices saving from the same point: the second becomes a fork, no message lost")
    func concurrentSavesFork() async throws {
        let (d, aPath, fromB, fromA) = try await Self.fork()
        #expect(fromB.fork == nil)
        let fork = try #require(fromA.fork)
        #expect(fork.currentSession == fromB.session && fork.currentMessages == 330)
        #expect(fromA.ref == fork.forkRef && fromA.messages == 320)

        let heads = try await SessionCatalog.heads(d.repository)
        #expect(heads.count == 2)
        #expect(Set(heads.map(\.id.hex)) == [fromA.session, fromB.session])
        #expect(heads.first { $0.id.hex == fromA.session }?.isFork == true)

        // Each head resumes to its own messages on a third device (a fresh clone, its own HOME).
        let c = try d.thirdDevice()
        for (session, lines) in [(fromA.session, [0..<320]), (fromB.session, [0..<300, 400..<430])] {
            try? FileManager.default.removeItem(atPath: c.home)
            var options = ResumeOptions(directory: c.checkout, environment: c.environment)
            options.session = String(session.prefix(10))
            options.force = true
            let r = try await SessionResumer(repository: d.repository, options: options).run()
            var expected: [UInt8] = []
            for range in lines { expected += try TwoDevices.corpus(TwoDevices.claudeFile, lines: range, originalRoot: TwoDevices.claudeRoot, root: c.checkout) }
            #expect(try d.read(r.transcript) == expected)
        }

        // A keeps extending its fork: the next save advances the fork ref, not the main one.
        try d.append(lines: 320..<330, to: aPath, on: d.a)
        let next = try await d.save(d.a, "A again")
        #expect(next.fork == nil && next.ref == fork.forkRef && next.version == 2)
    }

    /// A fork ref's later versions name sessions made after the fork, not the one it was made
    /// for; they were taken for damaged, and every listing, resume and save failed.
    @Test("a fork ref moved past its first version is a head like any other")
    func forkMovedOn() async throws {
        let (d, aPath, next) = try await Self.forkMovedOnce()
        let heads = try await SessionCatalog.heads(d.repository)
        let forkHead = try #require(heads.first { $0.head.ref == next.ref })
        #expect(forkHead.id.hex == next.session && forkHead.isFork)
        try d.append(lines: 330..<340, to: aPath, on: d.a)
        let third = try await d.save(d.a, "A once more")
        #expect(third.ref == next.ref && third.version == 3 && third.fork == nil)
    }

    /// OQ 21 (SPEC): a session that continued a fork is found as that fork's head when resumed
    /// by its ID, so the next save advances the fork instead of forking again.
    @Test("resuming by ID a session that continued a fork, then saving, advances that fork")
    func resumeForkContinuation() async throws {
        let (d, _, next) = try await Self.forkMovedOnce()
        let c = try d.thirdDevice()
        let resumed = try await d.resume(c, session: String(next.session.prefix(12)))
        try d.append(lines: 330..<340, to: resumed.transcript, on: c)
        let fromC = try await d.save(c, "C continues the fork")
        #expect(fromC.fork == nil)
        #expect(fromC.ref == next.ref && fromC.version == 3)
    }

    /// ``fork()``, then A saves 10 more messages, which moves its fork ref to version 2.
    static func forkMovedOnce() async throws -> (TwoDevices, aPath: String, next: SaveResult) {
        let (d, aPath, _, forked) = try await Self.fork()
        try d.append(lines: 320..<330, to: aPath, on: d.a)
        let next = try await d.save(d.a, "A again")
        try #require(next.ref == forked.fork?.forkRef && next.version == 2)
        return (d, aPath, next)
    }

    /// A saves 300 messages, B resumes; both continue from message 300 differently (A to 320,
    /// B to 330), B saves first, then A, whose save becomes a fork.
    static func fork() async throws -> (TwoDevices, aPath: String, fromB: SaveResult, fromA: SaveResult) {
        let d = try await TwoDevices()
        let aPath = try d.placeClaudeSession(on: d.a, lines: 0..<300, subagents: false)
        _ = try await d.save(d.a, "base")
        _ = try await d.resume(d.b)
        let bPath = d.b.claudeProjects + "/" + AgentLayout.claudeProjectFolder(for: d.b.checkout) + "/\(TwoDevices.claudeID).jsonl"
        try d.append(lines: 300..<320, to: aPath, on: d.a)
        try d.append(lines: 400..<430, to: bPath, on: d.b)
        let fromB = try await d.save(d.b, "B continues")
        return (d, aPath, fromB, try await d.save(d.a, "A continues"))
    }

    @Test("a local transcript with messages the session lacks is not clobbered")
    func newerLocalTranscriptKept() async throws {
        let d = try await TwoDevices()
        _ = try d.placeClaudeSession(on: d.a, lines: 0..<100, subagents: false)
        _ = try await d.save(d.a, "base")
        let bPath = try d.placeClaudeSession(on: d.b, lines: 0..<120, subagents: false)
        try d.append(lines: 500..<501, to: bPath, on: d.b)
        let before = try d.read(bPath)
        await expectError(.conflict) { _ = try await d.resume(d.b) }
        #expect(try d.read(bPath) == before)
    }

    @Test("--wip carries uncommitted and untracked changes without committing them")
    func wipRoundTrip() async throws {
        let d = try await TwoDevices()
        _ = try d.placeClaudeSession(on: d.a, lines: 0..<50, subagents: false)
        let base = try d.a.git.head()
        try "hello\nwork in progress\n".write(toFile: d.a.checkout + "/README.md", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: d.a.checkout + "/new/dir", withIntermediateDirectories: true)
        try Data([0, 1, 2, 255, 10]).write(to: URL(fileURLWithPath: d.a.checkout + "/new/dir/blob.bin"))
        let saved = try await d.save(d.a, "wip") { $0.wip = true }
        #expect(saved.wip && !saved.committed && saved.commit == base)
        #expect(try !d.a.git.status().isEmpty, "nothing was committed on A")

        let resumed = try await d.resume(d.b)
        #expect(resumed.wipApplied)
        #expect(try d.b.git.head() == base)
        #expect(try String(contentsOfFile: d.b.checkout + "/README.md", encoding: .utf8) == "hello\nwork in progress\n")
        #expect(try d.read(d.b.checkout + "/new/dir/blob.bin") == [0, 1, 2, 255, 10])
    }

    /// A branch that tracks an upstream of another name (`master` → `origin/main`) was pushed
    /// as a new branch `master`, and the commit never reached `main`.
    @Test("save pushes to the branch's upstream of another name; resume checks out the branch tracking it")
    func renamedUpstream() async throws {
        let d = try await TwoDevices()
        try TwoDevices.sh(["git", "branch", "--quiet", "-m", "main", "master"], in: d.a.checkout)
        try TwoDevices.sh(["git", "branch", "--quiet", "--set-upstream-to", "origin/main", "master"], in: d.a.checkout)
        _ = try d.placeClaudeSession(on: d.a, lines: 0..<50, subagents: false)
        try "more\n".write(toFile: d.a.checkout + "/more.txt", atomically: true, encoding: .utf8)
        let saved = try await d.save(d.a, "on master")
        #expect(saved.pushed && saved.branch == "master")
        let remoteHeads = try TwoDevices.sh(["git", "ls-remote", "--heads", d.remote], in: d.temp.path)
        #expect(remoteHeads.contains("\(saved.commit)\trefs/heads/main"))
        #expect(!remoteHeads.contains("refs/heads/master"), "no stray branch on the remote: \(remoteHeads)")

        let resumed = try await d.resume(d.b)
        #expect(try d.b.git.head() == saved.commit)
        #expect(d.b.git.branch == "main", "B's own branch that tracks origin/main, not a new master")
        #expect(resumed.codeAction.contains("main"))
    }

    @Test("a session saved on a detached HEAD resumes detached at its commit, leaving the branch alone")
    func detachedHead() async throws {
        let d = try await TwoDevices()
        _ = try d.placeClaudeSession(on: d.a, lines: 0..<50, subagents: false)
        try TwoDevices.sh(["git", "checkout", "--quiet", "--detach"], in: d.a.checkout)
        let saved = try await d.save(d.a, "detached") { $0.push = false }
        #expect(saved.branch == nil)
        // B has moved its main on meanwhile; resume must not move it back.
        try "b\n".write(toFile: d.b.checkout + "/b.txt", atomically: true, encoding: .utf8)
        try TwoDevices.sh(["git", "add", "-A"], in: d.b.checkout)
        try TwoDevices.sh(["git", "commit", "--quiet", "-m", "b"], in: d.b.checkout)
        let bMain = try d.b.git.head()
        _ = try await d.resume(d.b)
        #expect(try d.b.git.head() == saved.commit && d.b.git.branch == nil)
        #expect(d.b.git.value("rev-parse", "refs/heads/main") == bMain)
    }

    /// A fork workflow: B's branch tracks another remote than the one the session was saved to.
    @Test("resume in a checkout with two remotes fetches from the one the session names")
    func twoRemotes() async throws {
        let d = try await TwoDevices()
        let fork = d.temp.path + "/fork.git"
        try TwoDevices.sh(["git", "clone", "--quiet", "--bare", d.remote, fork], in: d.temp.path)
        try TwoDevices.sh(["git", "remote", "add", "fork", fork], in: d.b.checkout)
        try TwoDevices.sh(["git", "fetch", "--quiet", "fork"], in: d.b.checkout)
        try TwoDevices.sh(["git", "branch", "--quiet", "--set-upstream-to", "fork/main", "main"], in: d.b.checkout)
        _ = try d.placeClaudeSession(on: d.a, lines: 0..<50, subagents: false)
        try "a\n".write(toFile: d.a.checkout + "/a.txt", atomically: true, encoding: .utf8)
        let saved = try await d.save(d.a, "to origin")
        #expect(saved.pushed)
        _ = try await d.resume(d.b)
        #expect(try d.b.git.head() == saved.commit)
    }

    /// A saves a session with project memory, B resumes it; returns A's transcript path and
    /// both memory folders.
    static func memorySynced() async throws -> (d: TwoDevices, aPath: String, aMemory: String, bMemory: String) {
        let d = try await TwoDevices()
        let aPath = try d.placeClaudeSession(on: d.a, lines: 0..<50, subagents: false)
        let aMemory = (aPath as NSString).deletingLastPathComponent + "/memory"
        try FileManager.default.createDirectory(atPath: aMemory, withIntermediateDirectories: true)
        try "- [Build](build.md) — how to build\n".write(toFile: aMemory + "/MEMORY.md", atomically: true, encoding: .utf8)
        try "swift build -c release\n".write(toFile: aMemory + "/build.md", atomically: true, encoding: .utf8)
        _ = try await d.save(d.a, "with memory")
        let resumed = try await d.resume(d.b)
        let bMemory = (resumed.transcript as NSString).deletingLastPathComponent + "/memory"
        return (d, aPath, aMemory, bMemory)
    }

    /// A changes a memory file and saves again (with ten more messages).
    static func changeMemory(_ d: TwoDevices, aPath: String, aMemory: String) async throws {
        try "swift build -c release --build-tests\n".write(toFile: aMemory + "/build.md", atomically: true, encoding: .utf8)
        try d.append(lines: 50..<60, to: aPath, on: d.a)
        _ = try await d.save(d.a, "memory changed on A")
    }

    @Test("Claude Code's project memory travels with the session")
    func memoryTravels() async throws {
        let (d, _, aMemory, bMemory) = try await Self.memorySynced()
        for name in ["MEMORY.md", "build.md"] {
            #expect(try d.read(bMemory + "/" + name) == d.read(aMemory + "/" + name), "\(name)")
        }
    }

    @Test("a memory file unchanged here since it was synced takes the session's newer copy")
    func memoryUpdated() async throws {
        let (d, aPath, aMemory, bMemory) = try await Self.memorySynced()
        try await Self.changeMemory(d, aPath: aPath, aMemory: aMemory)
        let resumed = try await d.resume(d.b)
        #expect(try d.read(bMemory + "/build.md") == d.read(aMemory + "/build.md"))
        #expect(resumed.memoryKeptBoth.isEmpty)
    }

    @Test("a memory file changed here since it was synced is kept, and the session's copy written beside it")
    func memoryKeptBoth() async throws {
        let (d, aPath, aMemory, bMemory) = try await Self.memorySynced()
        try await Self.changeMemory(d, aPath: aPath, aMemory: aMemory)
        let mine = Array("make\n".utf8)
        try Data(mine).write(to: URL(fileURLWithPath: bMemory + "/build.md"))
        let resumed = try await d.resume(d.b)
        #expect(try d.read(bMemory + "/build.md") == mine, "B's own edit is kept")
        #expect(resumed.memoryKeptBoth == [bMemory + "/build.md"])
        let beside = try FileManager.default.contentsOfDirectory(atPath: bMemory).filter { $0.hasPrefix("build.from-") && $0.hasSuffix(".md") }
        #expect(beside.count == 1)
        #expect(try d.read(bMemory + "/" + (beside.first ?? "")) == d.read(aMemory + "/build.md"), "A's copy is beside it")
    }

    /// Claude Code ≥ 2.1.223 resumes an id from any folder only when exactly one project
    /// folder holds it.
    @Test("resume renames a copy of the transcript in another project folder (a moved checkout) instead of leaving two")
    func secondCopySetAside() async throws {
        let d = try await TwoDevices()
        _ = try d.placeClaudeSession(on: d.a, lines: 0..<50, subagents: false)
        _ = try await d.save(d.a, "one")
        let oldFolder = d.b.claudeProjects + "/" + AgentLayout.claudeProjectFolder(for: d.temp.path + "/old/checkout/path")
        try FileManager.default.createDirectory(atPath: oldFolder, withIntermediateDirectories: true)
        let old = Array("{\"old\":true}\n".utf8)
        try Data(old).write(to: URL(fileURLWithPath: oldFolder + "/\(TwoDevices.claudeID).jsonl"))
        let resumed = try await d.resume(d.b)
        #expect(resumed.setAside == [oldFolder + "/\(TwoDevices.claudeID).jsonl.convosync-moved"])
        #expect(try d.read(oldFolder + "/\(TwoDevices.claudeID).jsonl.convosync-moved") == old, "renamed, not lost")
        let copies = try FileManager.default.subpathsOfDirectory(atPath: d.b.claudeProjects).filter { $0.hasSuffix("/\(TwoDevices.claudeID).jsonl") }
        #expect(copies.count == 1)
    }

    @Test("save refuses to record a commit it cannot push, and records nothing")
    func pushImpossible() async throws {
        let d = try await TwoDevices()
        _ = try d.placeClaudeSession(on: d.a, lines: 0..<50, subagents: false)
        try TwoDevices.sh(["git", "checkout", "--quiet", "-b", "topic"], in: d.a.checkout)
        try "topic work\n".write(toFile: d.a.checkout + "/topic.txt", atomically: true, encoding: .utf8)
        let tip = try d.a.git.head()
        await expectError(.git) { _ = try await d.save(d.a, "no upstream") }
        #expect(try await d.repository.backend.refHeads().isEmpty)
        #expect(try d.a.git.head() == tip, "nothing is committed when the push cannot happen")
        let ok = try await d.save(d.a, "local only") { $0.push = false }
        #expect(!ok.pushed && ok.branch == "topic")
        // The commit never reached the remote: resume says so and changes nothing.
        let before = try d.b.git.head()
        await expectError(.unsafeCodeState) { _ = try await d.resume(d.b) }
        #expect(try d.b.git.head() == before)
    }

    @Test("offline: save goes to the encrypted outbox, push uploads it; an overtaken save becomes a fork")
    func offlineSaveThenPush() async throws {
        let d = try await TwoDevices()
        let aPath = try d.placeClaudeSession(on: d.a, lines: 0..<200, subagents: false)
        _ = try await d.save(d.a, "online")
        try await Outbox.remember(d.repository, stateDirectory: d.state(d.a))
        _ = try await d.resume(d.b)

        // The repository disappears (an unmounted drive, a server down).
        let location = d.repository.backend.location
        try FileManager.default.moveItem(atPath: location, toPath: location + "-away")
        await expectError(.noRepository) { _ = try await Repository.open(backend: LocalBackend(path: location), password: "pw") }
        #expect(Outbox.canWorkOffline(location: location, stateDirectory: d.state(d.a)))
        #expect(!Outbox.canWorkOffline(location: location, stateDirectory: d.state(d.b)))
        let outbox = try await Outbox.open(location: location, password: "pw", stateDirectory: d.state(d.a), cacheDirectory: nil)
        try d.append(lines: 200..<240, to: aPath, on: d.a)
        let offline = try await d.save(d.a, "offline 1", into: outbox)
        try d.append(lines: 240..<250, to: aPath, on: d.a)
        let offline2 = try await d.save(d.a, "offline 2", into: outbox)
        #expect(await Outbox.pendingCount(repositoryID: outbox.config.id, stateDirectory: d.state(d.a)) == 2)
        // The outbox holds ciphertext only.
        let marker = String(decoding: try TwoDevices.corpus(TwoDevices.claudeFile, lines: 239..<240, originalRoot: TwoDevices.claudeRoot, root: d.a.checkout).prefix(60), as: UTF8.self)
        let outboxDir = Outbox.directory(repositoryID: outbox.config.id, stateDirectory: d.state(d.a))
        for case let rel as String in FileManager.default.enumerator(atPath: outboxDir)! {
            let bytes = FileManager.default.contents(atPath: outboxDir + "/" + rel) ?? Data()
            #expect(!String(decoding: bytes, as: UTF8.self).contains(marker), "\(rel) holds plaintext")
        }

        // Back online: push replays both saves in order; B then gets all 250 messages.
        try FileManager.default.moveItem(atPath: location + "-away", toPath: location)
        let pushed = try await Outbox.push(to: d.repository, stateDirectory: d.state(d.a))
        #expect(pushed.sessions == [offline.session, offline2.session] && pushed.forks.isEmpty)
        #expect(await Outbox.pendingCount(repositoryID: outbox.config.id, stateDirectory: d.state(d.a)) == 0)
        let r = try await d.resume(d.b)
        #expect(r.session == offline2.session && r.messages == 250)

        // B moves on; A saves offline from its older point and pushes: a fork, nothing lost.
        let bPath = r.transcript
        try d.append(lines: 250..<260, to: bPath, on: d.b)
        let fromB = try await d.save(d.b, "B online")
        try FileManager.default.moveItem(atPath: location, toPath: location + "-away")
        let outbox2 = try await Outbox.open(location: location, password: "pw", stateDirectory: d.state(d.a), cacheDirectory: nil)
        try d.append(lines: 300..<305, to: aPath, on: d.a)
        let overtaken = try await d.save(d.a, "A offline again", into: outbox2)
        try FileManager.default.moveItem(atPath: location + "-away", toPath: location)
        let pushed2 = try await Outbox.push(to: d.repository, stateDirectory: d.state(d.a))
        #expect(pushed2.forks == [overtaken.session])
        let heads = Set(try await SessionCatalog.heads(d.repository).map(\.id.hex))
        #expect(heads == [fromB.session, overtaken.session])
    }

    @Test("secrets in the environment never reach a session record")
    func secretsNotRecorded() async throws {
        let d = try await TwoDevices()
        _ = try d.placeClaudeSession(on: d.a, lines: 0..<20, subagents: false)
        var device = d.a
        let marker = "s3cr3t-\(UUID().uuidString)"
        for name in ["GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "OPENAI_API_KEY", "DB_PASSWORD", "MY_CREDENTIALS", "EDITOR_AUTH"] {
            device.environment[name] = marker
        }
        device.environment["EDITOR"] = "vim"
        try TwoDevices.sh(["git", "remote", "set-url", "origin", "https://user:\(marker)@example.com/owner/project.git"], in: d.a.checkout)
        let saved = try await d.save(device, "x") { $0.push = false }
        let record = try await d.repository.load(SessionFile.self, id: try SessionID(hex: saved.session))
        let json = String(decoding: try JSONCoding.encode(record), as: UTF8.self)
        #expect(!json.contains(marker))
        #expect(record.terminal.environment["EDITOR"] == "vim")
        #expect(record.code.remote == "https://example.com/owner/project.git")
        #expect(record.code.repository == "example.com/owner/project")
    }

    @Test("a Codex rollout travels to the other device's dated sessions folder")
    func codexRollout() async throws {
        let d = try await TwoDevices()
        let file = "AcidicSoil__codex-session-view__.sample_session__rollout-2025-11-17T15-30-28-019a93b9-f380-7600-98ff-940e6b99603c.jsonl"
        let relative = "2025/11/17/rollout-2025-11-17T15-30-28-019a93b9-f380-7600-98ff-940e6b99603c.jsonl"
        let original = "/home/user/projects/temp/chatbot-ui"
        let aPath = d.a.home + "/.codex/sessions/" + relative
        try FileManager.default.createDirectory(atPath: (aPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(try TwoDevices.corpus(file, originalRoot: original, root: d.a.checkout)).write(to: URL(fileURLWithPath: aPath))
        let saved = try await d.save(d.a, "codex work") { $0.agent = .codex }
        #expect(saved.agent == .codex && saved.agentSession == "019a93b9-f380-7600-98ff-940e6b99603c")
        let resumed = try await d.resume(d.b)
        #expect(resumed.transcript == d.b.home + "/.codex/sessions/" + relative)
        #expect(try d.read(resumed.transcript) == (try TwoDevices.corpus(file, originalRoot: original, root: d.b.checkout)))
        #expect(resumed.next.hasSuffix("codex resume 019a93b9-f380-7600-98ff-940e6b99603c"))
    }

    @Test("a checkout path over 200 characters lands in Claude Code's hashed folder")
    func longCheckoutPath() async throws {
        let long = "work/" + String(repeating: "deeply-nested-directory/", count: 9) + "checkout"
        let d = try await TwoDevices(checkoutB: long)
        #expect(d.b.checkout.count > 200)
        _ = try d.placeClaudeSession(on: d.a, lines: 0..<30, subagents: false)
        _ = try await d.save(d.a, "x")
        let resumed = try await d.resume(d.b)
        let folder = ((resumed.transcript as NSString).deletingLastPathComponent as NSString).lastPathComponent
        #expect(folder == AgentLayout.claudeProjectFolder(for: d.b.checkout))
        #expect(folder.count > 201 && folder.count <= 201 + 7)
    }

    /// Ref contents are unauthenticated (SPEC §26): a ref version changed to another valid name
    /// must be reported as that damaged ref file, not as "sessions/<other> is missing".
    @Test("a ref version changed to another name is reported naming the ref file", arguments: ["missing session", "another conversation's session"])
    func damagedRef(_ kind: String) async throws {
        let d = try await TwoDevices()
        _ = try d.placeClaudeSession(on: d.a, lines: 0..<20, subagents: false)
        let saved = try await d.save(d.a, "one")
        let refs = try await d.repository.backend.list(.ref)
        let refFile = try #require(refs.first).handle
        var target = String(repeating: "ab", count: 32)
        if kind != "missing session" {
            // A real session file of this repository, but saved for another conversation.
            var session = try await d.repository.load(SessionFile.self, id: try SessionID(hex: saved.session))
            session.ref = String(repeating: "0", count: 64)
            target = try await d.repository.save(session).hex
        }
        try await d.repository.backend.remove(refFile)
        try await d.repository.backend.save(refFile, data: Array(target.utf8))
        #expect(try await SessionCatalog.heads(d.repository).isEmpty)
        let version = try RefVersion(fileName: refFile.name)
        let head = RefHead(ref: version.ref, version: version.version, target: target)
        await #expect {
            _ = try await SessionCatalog.session(at: head, in: d.repository)
        } throws: { error in
            let e = error as? ConvoSyncError
            return e?.code == .corrupted && e?.message.hasPrefix(refFile.relativePath) == true
        }
        #expect(await d.repository.skipped.contains { $0.hasPrefix(refFile.relativePath) }, "the listing set it aside and named it")
    }

    /// OQ 21 (SPEC): a listing sets a damaged head aside and names it, and still lists the others.
    @Test("one damaged head does not hide the other conversations from sessions and resume")
    func damagedHeadSetAside() async throws {
        let d = try await TwoDevices()
        _ = try d.placeClaudeSession(on: d.a, lines: 0..<20, subagents: false)
        let saved = try await d.save(d.a, "one")
        let refFile = try #require(try await d.repository.backend.list(.ref).first).handle
        // A second, healthy conversation: the same session saved under another conversation ref.
        var other = try await d.repository.load(SessionFile.self, id: try SessionID(hex: saved.session))
        other.ref = String(repeating: "0", count: 64)
        other.time = other.time.addingTimeInterval(-60)
        let otherID = try await d.repository.save(other)
        try await d.repository.backend.save(Handle.ref(other.ref, version: 1), data: Array(otherID.hex.utf8))
        // The first conversation's only ref version now names a session that does not exist.
        try await d.repository.backend.remove(refFile)
        try await d.repository.backend.save(refFile, data: Array(String(repeating: "ab", count: 32).utf8))

        let heads = try await SessionCatalog.heads(d.repository)
        #expect(heads.map(\.id) == [otherID])
        #expect(await d.repository.skipped.count == 1)
        let resumed = try await d.resume(d.b)
        #expect(resumed.session == otherID.hex)
    }
}
