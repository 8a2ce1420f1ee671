import Foundation
import NIOCore
import NIOEmbedded
import Testing

@testable import AviaryIMAPServer

/// COMPRESS=DEFLATE (RFC 4978): the handler on an EmbeddedChannel, then a real client in-process.
@Suite("COMPRESS=DEFLATE")
struct DeflateHandlerTests {
    /// The client's half: a compressor and a decompressor of its own.
    struct Peer {
        let deflater = try! DeflateStream(.compress)
        let inflater = try! DeflateStream(.decompress)

        func compress(_ text: String) throws -> ByteBuffer {
            var input = ByteBuffer(string: text)
            var output = ByteBuffer()
            try deflater.compress(&input, sync: true, into: &output)
            return output
        }

        func decompress(_ buffer: ByteBuffer) throws -> String {
            var input = buffer
            var output = ByteBuffer()
            while try inflater.decompress(&input, limit: 1 << 20, into: &output) {}
            return String(buffer: output)
        }
    }

    @Test("A command in and a response out make the round trip through raw DEFLATE")
    func roundTrip() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(try DeflateHandler())
        let peer = Peer()
        try channel.writeInbound(try peer.compress("a1 SELECT INBOX\r\n"))
        #expect(String(buffer: try #require(try channel.readInbound(as: ByteBuffer.self))) == "a1 SELECT INBOX\r\n")
        try channel.writeOutbound(ByteBuffer(string: "* 3 EXISTS\r\na1 OK done\r\n"))
        #expect(
            try peer.decompress(try #require(try channel.readOutbound(as: ByteBuffer.self)))
                == "* 3 EXISTS\r\na1 OK done\r\n"
        )
        #expect(try channel.finish().isClean)
    }

    @Test("Every flush ends its batch with a sync flush, so the client decodes all of it with nothing more to come")
    func syncFlushPerBatch() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(try DeflateHandler())
        let peer = Peer()
        var written: [ByteBuffer] = []
        for batch in 0..<3 {
            let first = channel.write(ByteBuffer(string: "* \(batch) FETCH (FLAGS ())\r\n"))
            let second = channel.write(ByteBuffer(string: "a\(batch) OK Fetch completed.\r\n"))
            channel.flush()
            try first.wait()
            try second.wait()
            var batchBytes = ByteBuffer()
            while var part = try channel.readOutbound(as: ByteBuffer.self) { batchBytes.writeBuffer(&part) }
            // Z_SYNC_FLUSH ends with an empty stored block: 00 00 FF FF.
            #expect(batchBytes.getBytes(at: batchBytes.writerIndex - 4, length: 4) == [0, 0, 0xFF, 0xFF])
            written.append(batchBytes)
            // Everything of the batch decodes from what was sent, with nothing more to come.
            #expect(
                try peer.decompress(batchBytes) == "* \(batch) FETCH (FLAGS ())\r\na\(batch) OK Fetch completed.\r\n"
            )
        }
        #expect(written.count == 3)
        #expect(try channel.finish().isClean)
    }

    @Test("A decompression bomb is inflated a step at a time, each no larger than the step limit")
    func bomb() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(try DeflateHandler())
        let size = 2 << 20
        let bomb = try Peer().compress(String(repeating: "A", count: size))
        #expect(bomb.readableBytes < 64 << 10)
        try channel.writeInbound(bomb)
        // One socket read of the bomb passes on one step, not 2 MB.
        let first = try #require(try channel.readInbound(as: ByteBuffer.self))
        #expect(first.readableBytes <= DeflateHandler.stepLimit)
        #expect(first.readableBytesView.allSatisfy { $0 == UInt8(ascii: "A") })
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        var total = first.readableBytes
        var steps = 1
        // Each read() asks for one more step; the rest waits compressed.
        while total < size && steps < 2 * size / DeflateHandler.stepLimit {
            channel.read()
            while let chunk = try channel.readInbound(as: ByteBuffer.self) {
                #expect(chunk.readableBytes <= DeflateHandler.stepLimit)
                total += chunk.readableBytes
                steps += 1
            }
        }
        #expect(total == size)
        #expect(steps >= size / DeflateHandler.stepLimit)
        _ = try channel.finish()
    }

    @Test("Compressed bytes fed one at a time give the commands they hold, and a read() on a cut block waits for more")
    func oneByteAtATime() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(try DeflateHandler())
        let peer = Peer()
        let text =
            "a1 LOGIN alice secret\r\na2 FETCH 1:* (FLAGS BODY.PEEK[])\r\n" + String(repeating: "x", count: 40_000)
        var compressed = try peer.compress(text)
        var received = ""
        while let byte = compressed.readInteger(as: UInt8.self) {
            try channel.writeInbound(ByteBuffer(bytes: [byte]))
            channel.read()
            while let chunk = try channel.readInbound(as: ByteBuffer.self) { received += String(buffer: chunk) }
        }
        #expect(received == text)
        #expect(try channel.finish().isClean)
    }

    @Test("Data that is not DEFLATE closes the connection")
    func corrupt() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(try DeflateHandler())
        #expect(throws: IMAPCompressionError.self) {
            try channel.writeInbound(ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF]))
        }
        #expect(!channel.isActive)
    }

    @Test(
        "COMPRESS answers",
        arguments: [
            ("DEFLATE", false, "a OK DEFLATE active"),
            ("DEFLATE", true, "a NO [COMPRESSIONACTIVE] DEFLATE is already active."),
            ("LZW", false, "a BAD Unknown compression mechanism."),
        ]
    )
    func answers(mechanism: String, isActive: Bool, expected: String) {
        switch IMAPSession.compressionAnswer("a", mechanism: mechanism, isActive: isActive) {
        case .start(let line), .refuse(let line, _): #expect(line == expected)
        }
    }

    @Test(
        "The relay recognises COMPRESS by its name only",
        arguments: [
            ("a COMPRESS DEFLATE", true), ("x1 compress deflate", true), ("a COMPRESS", true),
            ("a COMPRESSX DEFLATE", false), ("a NOOP", false), ("COMPRESS", false), ("a UID FETCH 1 COMPRESS", false),
        ]
    )
    func relayRecognises(line: String, expected: Bool) {
        #expect(IMAPSession.isCompressCommand(Array(line.utf8)) == expected)
    }

    @Test("A compressed line of 20 MB is skipped by the frame decoder as line too long; the session goes on")
    func bombThroughTheSession() async throws {
        try await IMAPServerHarness.run { harness in
            let clients = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("IntegrationTests/clients").path
            let output = try await harness.python(
                """
                import sys, json, zlib
                sys.path.insert(0, \"\(clients)\")
                import imap_clients
                m = imap_clients.CompressingIMAP4FromHost("127.0.0.1", int(sys.argv[1]), timeout=60)
                m.login("alice@virtual.test", "secret")
                m.compress()
                bomb = m.deflater.compress(b"b1 NOOP " + b"a" * (20 << 20) + b"\\r\\n")
                bomb += m.deflater.flush(zlib.Z_SYNC_FLUSH)
                m.sock.sendall(bomb)
                out = {"sent": len(bomb), "answer": m.readline().decode().strip()}
                out["noop"] = m.noop()[0]
                out["logout"] = m.logout()[0]
                print(json.dumps(out))
                """)
            #expect(output.contains("\"answer\": \"b1 BAD Command line too long.\""), "\(output)")
            #expect(output.contains("\"noop\": \"OK\""), "\(output)")
            #expect(output.contains("\"logout\": \"BYE\""), "\(output)")
        }
    }

    @Test("imaplib with zlib (wbits -15): LOGIN, COMPRESS DEFLATE, SELECT, FETCH of bodies, IDLE, APPEND, LOGOUT")
    func imaplib() async throws {
        try await IMAPServerHarness.run { harness in
            for number in 1...3 { try harness.deliverToAlice(testMessage(number)) }
            let clients = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("IntegrationTests/clients").path
            let output = try await harness.python(
                """
                import sys, json
                sys.path.insert(0, \"\(clients)\")
                import imap_clients
                out = imap_clients.compress("127.0.0.1", int(sys.argv[1]), "alice@virtual.test", "secret", "plain")
                print(json.dumps(out))
                """
            )
            #expect(output.contains("\"COMPRESS=DEFLATE\""), "\(output)")
            #expect(output.contains("\"unknown\": \"COMPRESS command error: BAD"), "\(output)")
            #expect(output.contains("\"compress\": \"OK DEFLATE active\""), "\(output)")
            #expect(output.contains("\"select\": 3"), "\(output)")
            #expect(output.contains("Body of message 3."), "\(output)")
            #expect(output.contains("\"idle\": \"+ ") && output.contains("\"done\": \"i1 OK"), "\(output)")
            #expect(output.contains("\"append\": \"OK [APPENDUID "), "\(output)")
            #expect(output.contains("RFC822.SIZE 1000"), "\(output)")
            #expect(output.contains("[COMPRESSIONACTIVE]"), "\(output)")
            #expect(output.contains("\"logout\": \"BYE\""), "\(output)")
        }
    }
}
