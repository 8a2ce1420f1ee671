import AviaryCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A fresh directory under /tmp, removed with everything in it when the value goes away.
final class TemporaryDirectory {
    let path: String

    init(_ label: String = "mailbox") {
        var template = Array("/tmp/aviary-\(label)-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit { Self.removeTree(path) }

    private static func removeTree(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            for name in (try? SafeFile.listDirectory(path)) ?? [] { removeTree(path + "/" + name) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }
}

/// The bytes of a string, for fixtures.
func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// The contents of a file as text.
func contents(of path: String) throws -> String { try SafeFile.readText(path) }

/// An error a test source throws on purpose.
struct InjectedFailure: Error {}

/// Python 3 for the cross-process and interoperability tests, when this machine has it.
let python3Path: String? = ["/usr/bin/python3", "/usr/local/bin/python3"].first { access($0, X_OK) == 0 }

/// Runs a Python script with arguments; returns its standard output once it exits.
@discardableResult
func runPython(_ script: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python3Path!)
    process.arguments = ["-c", script] + arguments
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    guard process.terminationStatus == 0 else { throw PythonFailed(output: text) }
    return text
}

struct PythonFailed: Error {
    var output: String
}
