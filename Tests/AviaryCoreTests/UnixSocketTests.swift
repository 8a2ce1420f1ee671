import AviaryCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("UnixSocket")
struct UnixSocketTests {
    @Test("A descriptor sent with bytes arrives with the first of them, as a working copy of the same open file; later reads carry none")
    func passesDescriptor() throws {
        var pair: [Int32] = [-1, -1]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0)
        let (sender, receiver) = (FileDescriptor(adopting: pair[0]), FileDescriptor(adopting: pair[1]))
        var pipeEnds: [Int32] = [-1, -1]
        #expect(pipe(&pipeEnds) == 0)
        let (pipeRead, pipeWrite) = (FileDescriptor(adopting: pipeEnds[0]), FileDescriptor(adopting: pipeEnds[1]))

        try UnixSocket.send(Array("hi\n".utf8), passing: pipeWrite.rawValue, on: sender)
        pipeWrite.close()  // the receiver's copy keeps the pipe open
        let first = try UnixSocket.receive(upTo: 1, on: receiver)
        #expect(first.bytes == [UInt8(ascii: "h")])
        let passed = try #require(first.passed)
        #expect(fcntl(passed.rawValue, F_GETFD) & FD_CLOEXEC != 0)
        let rest = try UnixSocket.receive(upTo: 10, on: receiver)
        #expect(rest.bytes == Array("i\n".utf8) && rest.passed == nil)

        try passed.writeAll(Array("through the copy".utf8))
        passed.close()
        #expect(try pipeRead.readToEnd() == Array("through the copy".utf8))
    }
}
