import AviaryCore

/// Runs `script` with Debian's Python 3 (the one install-deps.sh installs client libraries for), with
/// `port` as its first argument, the script and its output kept in `directory`; returns its standard output.
/// Bounded: a client still running after 60 s is killed and the test fails with what it printed.
public func runPythonClient(_ script: String, in directory: String, port: Int, arguments: [String] = []) async throws
    -> String
{
    let scriptPath = directory + "/client-\(UInt32.random(in: 0...UInt32.max)).py"
    let outputPath = scriptPath + ".out"
    let errorPath = scriptPath + ".err"
    try SafeFile.writeDurably(Array(script.utf8), to: scriptPath)
    let child = try ChildProcess(
        path: "/usr/bin/python3", arguments: [scriptPath, String(port)] + arguments,
        standardOutput: outputPath, standardError: errorPath)
    let status = await child.wait(timeout: .seconds(60))
    let output = (try? SafeFile.readText(outputPath)) ?? ""
    guard status == .exited(0) else {
        let errors = (try? SafeFile.readText(errorPath)) ?? ""
        _ = await child.terminate(grace: .seconds(1))
        throw TestSupportError("python client failed (\(status.map(\.description) ?? "timeout")): \(errors)\n\(output)")
    }
    return output
}
