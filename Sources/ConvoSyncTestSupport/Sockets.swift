import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Plain TCP sockets on 127.0.0.1, for tests that play a broken or hostile peer (a client that
/// sends garbage, a server that never answers or dies mid-answer).
public enum LoopbackSocket {
    static func address(_ port: Int) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return addr
    }

    /// A socket connected to 127.0.0.1:`port`.
    public static func connect(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket failed") }
        var addr = address(port)
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0 else { close(fd); throw TestFailure("cannot connect to 127.0.0.1:\(port)") }
        return fd
    }

    /// A socket listening on 127.0.0.1:`port` (0: one the kernel picks), and its port.
    public static func listen(port: Int = 0, backlog: Int32 = 64) throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket failed") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = address(port)
        var size = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, size) == 0 && Glibc.listen(fd, backlog) == 0 && getsockname(fd, $0, &size) == 0 }
        }
        guard ok else { close(fd); throw TestFailure("cannot listen on 127.0.0.1:\(port)") }
        return (fd, Int(UInt16(bigEndian: addr.sin_port)))
    }

    /// A plain `GET` on 127.0.0.1:`port` (for a server in another process: it blocks), and the
    /// answer's body.
    public static func get(port: Int, path: String) throws -> String {
        let fd = try connect(port: port)
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == request.count else { throw TestFailure("send failed") }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { break }
            answer += buffer[0..<n]
        }
        let text = String(decoding: answer, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw TestFailure("no answer from 127.0.0.1:\(port)") }
        return String(text[split.upperBound...])
    }
}
