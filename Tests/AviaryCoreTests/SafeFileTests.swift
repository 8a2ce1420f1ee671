import AviaryTestSupport
import AviaryCore
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

@Suite("SafeFile")
struct SafeFileTests {
    @Test("writeDurably creates the file with its bytes and mode and leaves no temporary file")
    func writeDurablyCreates() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/pid"
        try SafeFile.writeDurably(bytes("4242\n"), to: path, mode: 0o640)
        #expect(try SafeFile.readAll(path) == bytes("4242\n"))
        #expect(permissions(of: path) == 0o640)
        #expect(try SafeFile.listDirectory(directory.path) == ["pid"])
    }

    @Test("writeDurably replaces an existing file as a whole")
    func writeDurablyReplaces() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/state"
        try SafeFile.writeDurably(bytes("a much longer first version\n"), to: path)
        try SafeFile.writeDurably(bytes("v2\n"), to: path)
        #expect(try SafeFile.readText(path) == "v2\n")
        #expect(try SafeFile.listDirectory(directory.path) == ["state"])
    }

    @Test("writeDurably into a missing directory throws ENOENT")
    func writeDurablyMissingDirectory() {
        let directory = TemporaryDirectory()
        #expect(errorCode { try SafeFile.writeDurably([1], to: directory.path + "/no/such/file") } == ENOENT)
    }

    @Test("createExclusive refuses an existing file and leaves it unchanged")
    func createExclusiveRefusesExisting() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/x"
        let file = try SafeFile.createExclusive(path)
        try file.writeAll(bytes("first"))
        file.close()
        #expect(errorCode { _ = try SafeFile.createExclusive(path) } == EEXIST)
        #expect(try SafeFile.readText(path) == "first")
    }

    @Test("renameNoReplace moves a file to a free name and answers false for an existing one, leaving both files alone")
    func renameNoReplace() throws {
        let directory = TemporaryDirectory()
        try SafeFile.writeDurably(bytes("new"), to: directory.path + "/.tmp")
        #expect(try SafeFile.renameNoReplace(directory.path + "/.tmp", to: directory.path + "/box"))
        #expect(try SafeFile.listDirectory(directory.path) == ["box"])
        try SafeFile.writeDurably(bytes("other"), to: directory.path + "/.tmp")
        #expect(try !SafeFile.renameNoReplace(directory.path + "/.tmp", to: directory.path + "/box"))
        #expect(try SafeFile.readText(directory.path + "/box") == "new")
        #expect(try SafeFile.readText(directory.path + "/.tmp") == "other")
    }

    @Test("createExclusive refuses a dangling symbolic link instead of creating its target")
    func createExclusiveRefusesSymlink() {
        let directory = TemporaryDirectory()
        let link = directory.path + "/link"
        let target = directory.path + "/target"
        #expect(symlink(target, link) == 0)
        #expect(errorCode { _ = try SafeFile.createExclusive(link) } == EEXIST)
        #expect(!SafeFile.exists(target))
    }

    @Test("createExclusive uses the requested mode")
    func createExclusiveMode() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/m"
        try SafeFile.createExclusive(path, mode: 0o600).close()
        #expect(permissions(of: path) == 0o600)
    }

    @Test("openForAppend creates a missing file and appends to it on later opens")
    func openForAppendAppends() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/mbox"
        try SafeFile.openForAppend(path).writeAll(bytes("one\n"))
        let second = try SafeFile.openForAppend(path)
        try second.seek(to: 0)
        try second.writeAll(bytes("two\n"))
        second.close()
        #expect(try SafeFile.readText(path) == "one\ntwo\n")
    }

    @Test("openForAppend refuses a symbolic link, even to a regular file, and does not write through it")
    func openForAppendRefusesSymlink() throws {
        let directory = TemporaryDirectory()
        let target = directory.path + "/victim"
        try SafeFile.writeDurably(bytes("keep"), to: target)
        let link = directory.path + "/mailbox"
        #expect(symlink(target, link) == 0)
        #expect(errorCode { _ = try SafeFile.openForAppend(link) } == ELOOP)
        #expect(try SafeFile.readText(target) == "keep")
    }

    @Test("openForAppend refuses a file with a second hard link")
    func openForAppendRefusesHardLink() throws {
        let directory = TemporaryDirectory()
        let target = directory.path + "/victim"
        try SafeFile.writeDurably(bytes("keep"), to: target)
        let other = directory.path + "/mailbox"
        #expect(link(target, other) == 0)
        #expect(errorCode { _ = try SafeFile.openForAppend(other) } == EPERM)
        #expect(errorCode { _ = try SafeFile.openForAppend(target) } == EPERM)
        #expect(try SafeFile.readText(target) == "keep")
    }

    @Test("openForAppend refuses what is not a regular file")
    func openForAppendRefusesDevice() {
        #expect(errorCode { _ = try SafeFile.openForAppend("/dev/null") } == EPERM)
        let directory = TemporaryDirectory()
        #expect(errorCode { _ = try SafeFile.openForAppend(directory.path) } == EISDIR)
    }

    @Test("openForReading refuses a symbolic link")
    func openForReadingRefusesSymlink() throws {
        let directory = TemporaryDirectory()
        let target = directory.path + "/real"
        try SafeFile.writeDurably(bytes("x"), to: target)
        #expect(symlink(target, directory.path + "/link") == 0)
        #expect(errorCode { _ = try SafeFile.readAll(directory.path + "/link") } == ELOOP)
        #expect(try SafeFile.readAll(target) == bytes("x"))
    }

    @Test("commit moves a written temporary file to its final name")
    func commitRenames() throws {
        let directory = TemporaryDirectory()
        let temporary = directory.path + "/.tmp.1"
        let final = directory.path + "/final"
        let file = try SafeFile.createExclusive(temporary)
        try file.writeAll(bytes("payload"))
        try SafeFile.commit(file, temporaryPath: temporary, finalPath: final)
        #expect(!SafeFile.exists(temporary))
        #expect(try SafeFile.readText(final) == "payload")
    }

    @Test("rename moves a file between directories and replaces the destination")
    func renameAcrossDirectories() throws {
        let directory = TemporaryDirectory()
        try SafeFile.makeDirectories(directory.path + "/a")
        try SafeFile.makeDirectories(directory.path + "/b")
        try SafeFile.writeDurably(bytes("new"), to: directory.path + "/a/f")
        try SafeFile.writeDurably(bytes("old"), to: directory.path + "/b/f")
        try SafeFile.rename(directory.path + "/a/f", to: directory.path + "/b/f")
        #expect(try SafeFile.listDirectory(directory.path + "/a") == [])
        #expect(try SafeFile.readText(directory.path + "/b/f") == "new")
    }

    @Test("rename of a missing file throws ENOENT naming the source")
    func renameMissing() {
        let directory = TemporaryDirectory()
        do {
            try SafeFile.rename(directory.path + "/nope", to: directory.path + "/x")
            Issue.record("rename of a missing file succeeded")
        } catch {
            #expect(error.code == ENOENT)
            #expect(error.path == directory.path + "/nope")
            #expect(error.description.contains("No such file or directory"))
        }
    }

    @Test("listDirectory lists every name except . and .., dotfiles included")
    func listDirectory() throws {
        let directory = TemporaryDirectory()
        for name in ["b", ".hidden", "a"] { try SafeFile.writeDurably([], to: directory.path + "/" + name) }
        try SafeFile.makeDirectories(directory.path + "/sub")
        #expect(try SafeFile.listDirectory(directory.path).sorted() == [".hidden", "a", "b", "sub"])
        #expect(errorCode { _ = try SafeFile.listDirectory(directory.path + "/missing") } == ENOENT)
    }

    @Test("makeDirectories creates missing parents and accepts existing ones")
    func makeDirectories() throws {
        let directory = TemporaryDirectory()
        let deep = directory.path + "/x/y/z"
        try SafeFile.makeDirectories(deep, mode: 0o750)
        try SafeFile.makeDirectories(deep, mode: 0o750)
        #expect(SafeFile.isDirectory(deep))
        #expect(permissions(of: deep) == 0o750)
        #expect(!SafeFile.isDirectory(directory.path + "/x/y/z/w"))
    }

    @Test(
        "directoryName and baseName split paths",
        arguments: [
            ("/var/spool/aviary/incoming/ABC", "/var/spool/aviary/incoming", "ABC"),
            ("/etc", "/", "etc"),
            ("file", ".", "file"),
            ("dir/file", "dir", "file"),
            ("/dir/", "/dir", ""),
        ]
    )
    func pathParts(path: String, directory: String, base: String) {
        #expect(SafeFile.directoryName(of: path) == directory)
        #expect(SafeFile.baseName(of: path) == base)
    }

    @Test("exists sees a dangling symbolic link; isDirectory follows links")
    func existsAndIsDirectory() {
        let directory = TemporaryDirectory()
        #expect(symlink("/nonexistent/target", directory.path + "/dangling") == 0)
        #expect(SafeFile.exists(directory.path + "/dangling"))
        #expect(symlink(directory.path, directory.path + "/dirlink") == 0)
        #expect(SafeFile.isDirectory(directory.path + "/dirlink"))
        #expect(!SafeFile.exists(directory.path + "/none"))
    }
}
