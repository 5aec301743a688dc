import ConvoSyncSessions
import Testing

@Suite struct ClaudeLayoutTests {
    @Test func ordinaryPathsFoldEveryNonAlphanumeric() {
        #expect(AgentLayout.claudeProjectFolder(for: "/home/user/my_project") == "-home-user-my-project")
        #expect(AgentLayout.claudeProjectFolder(for: "/Users/foo/Open Source/a.b+c") == "-Users-foo-Open-Source-a-b-c")
        // One dash per UTF-16 code unit: é is one unit, an emoji two.
        #expect(AgentLayout.claudeProjectFolder(for: "/tmp/é😀") == "-tmp----")
    }
}
