import AsyncHTTPClient
import ConvoSyncFormat
import ConvoSyncServer
import ConvoSyncTestSupport
import Hummingbird
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Testing

@Suite("HTTPS")
struct TLSTests {
    @Test("serve --tls-cert/--tls-key: HTTPS with a certificate made by openssl; plain HTTP on that port fails")
    func https() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        openssl.arguments = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir.path + "/key.pem", "-out", dir.path + "/cert.pem",
                             "-subj", "/CN=127.0.0.1", "-days", "1", "-addext", "subjectAltName=IP:127.0.0.1"]
        openssl.standardOutput = FileHandle.nullDevice
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        try #require(openssl.terminationStatus == 0, "openssl made a certificate")

        var config = ServerConfiguration(dataDirectory: dir.url.appendingPathComponent("data"))
        config.port = 0
        config.tlsCertificate = dir.path + "/cert.pem"
        config.tlsKey = dir.path + "/key.pem"
        try ConvoSyncServer.prepare(config)
        let users = try UserStore(path: config.databasePath, kdf: .insecureTesting)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = try await ConvoSyncServer.application(config, users: users) { continuation.yield($0) }
        let task = Task { try await app.run() }
        defer { task.cancel() }
        var it = ports.makeAsyncIterator()
        let port = try #require(await it.next())

        // Trust exactly this certificate, as a client configured for a self-signed server would.
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(dir.path + "/cert.pem"))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
        let response = try await client.execute(HTTPClientRequest(url: "https://127.0.0.1:\(port)/healthz"), timeout: .seconds(10))
        #expect(response.status.code == 200)
        #expect(String(buffer: try await response.body.collect(upTo: 1024)).contains("ok"))
        // Plain HTTP to the TLS port gets no HTTP answer.
        await #expect(throws: (any Error).self) {
            _ = try await client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/healthz"), timeout: .seconds(5))
        }
        // A wrong key file is a clear error at start.
        var broken = config
        broken.tlsKey = dir.path + "/cert.pem"
        await #expect(throws: StoreError.self) { _ = try await ConvoSyncServer.application(broken, users: users) }
        try await client.shutdown()
    }
}
