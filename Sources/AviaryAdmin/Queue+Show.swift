import ArgumentParser
import AviaryQueue

#if canImport(Glibc)
import Glibc
#endif

extension AviaryCommand.Queue {
    /// `aviary queue show ID [--envelope] [--headers] [--body]` (postcat -q).
    public struct Show: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Show a queued message: envelope, headers and body (like postcat -q).",
            discussion: "Without options, all three. --headers and --body alone print the queued bytes exactly,"
                + " with no marker lines."
        )

        @OptionGroup public var config: ConfigOption
        @Argument(help: "The queue ID.") var id: String
        @Flag(help: "The envelope: arrival time, sender, recipients with their status, attributes.") var envelope =
            false
        @Flag(help: "The message header section.") var headers = false
        @Flag(help: "The message body.") var body = false

        public init() {}

        public func run() throws {
            try AdminCommandRunner.run {
                let main = try loadMainConfig(config)
                var parts: QueueMessageView.Parts = []
                if envelope { parts.insert(.envelope) }
                if headers { parts.insert(.headers) }
                if body { parts.insert(.body) }
                let view = QueueMessageView(directory: QueueDirectory(root: main.string(.queueDirectory)))
                try view.write(id, parts: parts, to: writeStandardOutput)
            }
        }
    }
}

/// Writes bytes to standard output unbuffered (so that message bytes are never re-encoded or reordered).
func writeStandardOutput(_ bytes: [UInt8]) {
    var offset = 0
    while offset < bytes.count {
        let written = bytes[offset...].withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
        if written < 0 {
            if errno == EINTR { continue }
            return
        }
        offset += written
    }
}
