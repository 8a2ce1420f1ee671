// Raw DEFLATE (RFC 1951) for IMAP COMPRESS=DEFLATE (RFC 4978) over the system zlib: windowBits -15, so no zlib
// header and no checksum, as the RFC asks. Each direction is one zlib stream for the rest of the connection; the
// sender ends every batch with Z_SYNC_FLUSH so that the peer can decode all of it without waiting for more.

internal import CAviaryZlib
import NIOCore

/// What went wrong in zlib: the peer sent data that is not DEFLATE, or zlib could not start (out of memory).
struct IMAPCompressionError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// One direction of a raw DEFLATE stream. zlib's `z_stream` points into itself, so it lives on the heap and
/// never moves; a class so that it is freed (deflateEnd/inflateEnd) exactly once.
final class DeflateStream {
    enum Direction { case compress, decompress }

    private let stream: UnsafeMutablePointer<z_stream>
    let direction: Direction
    /// The peer ended its stream (Z_STREAM_END): anything after it is an error.
    private(set) var isFinished = false
    /// Output space asked for per zlib call.
    private static let chunk = 16_384

    init(_ direction: Direction) throws(IMAPCompressionError) {
        self.direction = direction
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = direction == .compress ? aviary_deflate_init(stream) : aviary_inflate_init(stream)
        guard status == Z_OK else {
            stream.deallocate()
            throw IMAPCompressionError(message: "zlib cannot start (\(status))")
        }
    }

    deinit {
        if direction == .compress { deflateEnd(stream) } else { inflateEnd(stream) }
        stream.deallocate()
    }

    /// Compresses all of `input` onto `output`. With `sync`, ends with a Z_SYNC_FLUSH: everything so far can be
    /// decompressed by the peer (at a cost of 4 or 5 bytes), which the end of every batch of responses needs.
    func compress(_ input: inout ByteBuffer, sync: Bool, into output: inout ByteBuffer) throws(IMAPCompressionError) {
        precondition(direction == .compress)
        let flush = sync ? Z_SYNC_FLUSH : Z_NO_FLUSH
        while true {
            let (status, consumed, isOutputFull) = step(&input, &output, limit: Self.chunk) { deflate($0, flush) }
            input.moveReaderIndex(forwardBy: consumed)
            // Z_BUF_ERROR only says that no progress was possible: nothing left to do.
            guard status == Z_OK || status == Z_BUF_ERROR else {
                throw IMAPCompressionError(message: "deflate failed (\(status))")
            }
            // zlib's rule: while a call fills all the output space, call again with the same flush value.
            if input.readableBytes == 0 && !isOutputFull { return }
        }
    }

    /// Decompresses from `input` onto `output`, at most `limit` bytes; consumes as much input as that takes.
    /// - Returns: true when `limit` was reached, so more output may be waiting even with no input left.
    func decompress(
        _ input: inout ByteBuffer,
        limit: Int,
        into output: inout ByteBuffer
    ) throws(IMAPCompressionError)
        -> Bool
    {
        precondition(direction == .decompress)
        var produced = 0
        while produced < limit {
            if isFinished {
                guard input.readableBytes == 0 else {
                    throw IMAPCompressionError(message: "data after the end of the DEFLATE stream")
                }
                return false
            }
            let before = output.readableBytes
            let (status, consumed, isOutputFull) = step(&input, &output, limit: limit - produced) {
                inflate($0, Z_NO_FLUSH)
            }
            input.moveReaderIndex(forwardBy: consumed)
            produced += output.readableBytes - before
            switch status {
            case Z_STREAM_END: isFinished = true
            case Z_OK: if input.readableBytes == 0 && !isOutputFull { return false }
            case Z_BUF_ERROR: return false  // needs more input
            default: throw IMAPCompressionError(message: "the client's DEFLATE data is corrupt (\(status))")
            }
        }
        return true
    }

    /// One zlib call: `input`'s readable bytes in, up to `limit` bytes appended to `output`.
    private func step(
        _ input: inout ByteBuffer,
        _ output: inout ByteBuffer,
        limit: Int,
        _ call: (UnsafeMutablePointer<z_stream>) -> Int32
    ) -> (status: Int32, consumed: Int, isOutputFull: Bool) {
        let stream = stream
        var status = Z_OK
        var isOutputFull = false
        let consumed = input.withUnsafeReadableBytes { inBytes -> Int in
            stream.pointee.next_in = UnsafeMutablePointer(
                mutating: inBytes.baseAddress?.assumingMemoryBound(to: Bytef.self)
            )
            stream.pointee.avail_in = UInt32(inBytes.count)
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: min(limit, Self.chunk)) { outBytes in
                let space = min(outBytes.count, limit)
                stream.pointee.next_out = outBytes.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_out = UInt32(space)
                status = call(stream)
                isOutputFull = stream.pointee.avail_out == 0
                return space - Int(stream.pointee.avail_out)
            }
            let consumed = inBytes.count - Int(stream.pointee.avail_in)
            stream.pointee.next_in = nil
            stream.pointee.avail_in = 0
            return consumed
        }
        return (status, consumed, isOutputFull)
    }
}
