import AviaryCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The bytes of one message, handed over a piece at a time.
///
/// A mailbox writer pulls chunks and converts each as it goes, so a 50 MB message is never held twice
/// (or even once, when it comes from a file). Chunks may split a line, or a CR from its LF, anywhere.
/// Not `Sendable`: a source is read once, by one delivery, on one thread.
public struct MessageSource {
    private let readChunk: () throws -> ArraySlice<UInt8>?

    /// A source that calls `read` for each next chunk until it returns nil.
    /// - Parameter read: returns the next bytes of the message (an empty chunk is allowed), nil at the end;
    ///   whatever it throws aborts the delivery as `MailboxError.Code.messageUnreadable`.
    public init(_ read: @escaping () throws -> ArraySlice<UInt8>?) {
        readChunk = read
    }

    /// The next chunk, or nil at the end of the message.
    public func nextChunk() throws -> ArraySlice<UInt8>? {
        try readChunk()
    }

    /// A message already in memory, as one chunk.
    public static func bytes(_ bytes: [UInt8]) -> MessageSource {
        var remaining: [UInt8]? = bytes
        return MessageSource {
            defer { remaining = nil }
            return remaining.map { $0[...] }
        }
    }

    /// A message given as a sequence of chunks (network reads, queue records, test fixtures).
    public static func chunks<Chunks: Sequence>(_ chunks: Chunks) -> MessageSource
    where Chunks.Element: Collection, Chunks.Element.Element == UInt8 {
        var iterator = chunks.makeIterator()
        return MessageSource { iterator.next().map { ArraySlice($0) } }
    }

    /// `length` bytes of an open file from `offset` (the message part of a queue file), read with `pread`
    /// so that the descriptor's position does not matter.
    /// - Parameters:
    ///   - file: the open file; it must stay open until the delivery returns.
    ///   - offset: where the message starts.
    ///   - length: how many bytes to read; nil reads to the end of the file.
    ///   - chunkSize: bytes per read.
    public static func file(
        _ file: FileDescriptor,
        offset: Int64 = 0,
        length: Int64? = nil,
        chunkSize: Int = 65536
    ) -> MessageSource {
        var position = offset
        let end = length.map { offset + $0 }
        return MessageSource {
            var count = Int64(chunkSize)
            if let end { count = min(count, end - position) }
            guard count > 0 else { return nil }
            let chunk = try file.read(count: Int(count), at: position)
            if chunk.isEmpty {
                if let end, position < end {
                    throw SystemError(code: EIO, operation: "read (file shorter than expected)", path: file.path)
                }
                return nil
            }
            position += Int64(chunk.count)
            return chunk[...]
        }
    }
}
