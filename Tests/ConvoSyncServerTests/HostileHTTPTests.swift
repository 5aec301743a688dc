import ConvoSyncServer
import ConvoSyncTestSupport
import Foundation
import NIOCore
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A raw TCP conversation with the server: what a hostile or broken client sends.
struct RawConnection {
    let fd: Int32

    init(port: Int, receiveTimeout seconds: Int = 20) throws {
        fd = try LoopbackSocket.connect(port: port)
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ bytes: [UInt8]) {
        var done = 0
        while done < bytes.count {
            let n = bytes[done...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }  // the server may close while a huge request is still being sent
            done += n
        }
    }

    /// Everything the server sends until it closes the connection (`closed`), or until it has
    /// been silent for the receive timeout (`closed` false: the connection was held open).
    func readUntilClosed() -> (text: String, closed: Bool) {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { out += buffer[..<n]; continue }
            let closed = n == 0 || errno == ECONNRESET
            return (String(decoding: out, as: UTF8.self), closed)
        }
    }

    func close() { Glibc.close(fd) }
}

@Suite("hostile HTTP", .serialized)
struct HostileHTTPTests {
    static let malformed: [String: (request: [UInt8], status: String)] = [
        "NUL in the request line": (Array("GET /\u{0}x HTTP/1.1\r\nHost: a\r\n\r\n".utf8), "400"),
        "raw non-ASCII byte in the request line": (Array("GET /".utf8) + [0xff] + Array(" HTTP/1.1\r\nHost: a\r\n\r\n".utf8), "400"),
        "space in the path": (Array("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n".utf8), "400"),
        "header without a colon": (Array("GET / HTTP/1.1\r\nHost a\r\n\r\n".utf8), "400"),
        "HTTP/2 preface": (Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8), "400"),
        "Content-Length with Transfer-Encoding": (Array("POST /alice/r/keys/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".utf8), "400"),
        "two different Content-Lengths": (Array("POST /alice/r/keys/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!".utf8), "400"),
        "a 1 MiB header": (Array("GET / HTTP/1.1\r\nHost: a\r\nX-Big: \(String(repeating: "a", count: 1 << 20))\r\n\r\n".utf8), "431"),
        "10,000 headers": (Array(("GET / HTTP/1.1\r\nHost: a\r\n" + (0..<10_000).map { "X-H\($0): v\r\n" }.joined() + "\r\n").utf8), "431"),
    ]

    @Test("malformed requests get an answer and the connection closes", arguments: Array(malformed.keys).sorted())
    func malformedRequest(_ name: String) async throws {
        let server = try await TestServer()
        defer { Task { await server.stop() } }
        let (request, status) = Self.malformed[name]!
        let connection = try RawConnection(port: server.port)
        defer { connection.close() }
        connection.send(request)
        let (text, closed) = connection.readUntilClosed()
        #expect(text.hasPrefix("HTTP/1.1 \(status)"), "\(name): got \(text.prefix(80).debugDescription)")
        #expect(closed, "\(name): the server must close the connection")
    }

    static let silent: [String: [UInt8]] = [
        "nothing at all": [],
        "half a request line": Array("GET /healthz HT".utf8),
        "HTTP/0.9": Array("GET /\r\n".utf8),
        "headers that never end": Array("GET /healthz HTTP/1.1\r\nHost: a\r\n".utf8),
    ]

    /// With a 1-second header timeout, a client that never completes a request head is cut off
    /// (the read below waits up to 20 s; without the timeout it would wait forever).
    @Test("a connection that does not send a whole request head in time is closed", arguments: Array(silent.keys).sorted())
    func headerTimeout(_ name: String) async throws {
        let server = try await TestServer(headerTimeout: .seconds(1))
        defer { Task { await server.stop() } }
        let connection = try RawConnection(port: server.port)
        defer { connection.close() }
        connection.send(Self.silent[name]!)
        let (_, closed) = connection.readUntilClosed()
        #expect(closed, "\(name): held open")
    }

    @Test("a kept-alive connection that goes idle after an answer is closed")
    func idleAfterAnswer() async throws {
        let server = try await TestServer(headerTimeout: .seconds(10), idleTimeout: .seconds(1))
        defer { Task { await server.stop() } }
        let connection = try RawConnection(port: server.port)
        defer { connection.close() }
        connection.send(Array("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n".utf8))
        let (text, closed) = connection.readUntilClosed()
        #expect(text.hasPrefix("HTTP/1.1 200"))
        #expect(closed, "held open after going idle")
    }

    @Test("a WebSocket upgrade without credentials gets 401 with a reason")
    func upgradeWithoutCredentials() async throws {
        let server = try await TestServer()
        defer { Task { await server.stop() } }
        let connection = try RawConnection(port: server.port)
        defer { connection.close() }
        connection.send(Array("GET /api/v1/account/events HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".utf8))
        let (text, _) = connection.readUntilClosed()
        #expect(text.hasPrefix("HTTP/1.1 401"), "got \(text.prefix(80).debugDescription)")
        #expect(text.contains("events need credentials"))
        #expect(text.lowercased().contains("www-authenticate: basic"))
    }
}
