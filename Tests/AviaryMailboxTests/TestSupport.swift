import AviaryTestSupport
import AviaryCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif


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
