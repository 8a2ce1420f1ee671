#!/usr/bin/env python3
"""Checks that Package.swift and the imports agree, and that every import points down a layer.

    scripts/check-layers.py            check the tree (scripts/test.sh runs it before building)
    scripts/check-layers.py --table    print the layer table

For every target in Package.swift (libraries, executables, test targets, system libraries) it reads the
`import` lines of its Swift files (`@testable import`, `internal import`, `import struct M.T` included; lines
inside multi-line string literals are not imports) and fails on:

  (a) an import of a module the target does not declare (Swift's and the system's own modules aside);
  (b) a declared dependency the target never imports (a test target may declare executables it never
      imports: that only makes `swift build` build them before the tests run them);
  (c) an import that does not point to a lower layer of LAYERS below: sideways (same layer: service
      libraries never import each other) or upward;
  (d) a target that links, through its dependencies, a module MUST_NOT_LINK keeps from it (the setgid sendmail).

Exits 0 when all is well, 1 with one line per problem otherwise. Python 3 standard library only.
"""

import pathlib
import re
import sys

# Low to high. A target may import only targets and products of a strictly lower layer. Every target of
# Package.swift, and every product it uses from another package, is in exactly one layer.
LAYERS = [
    ("other packages and C", [
        "Logging", "NIOCore", "NIOPosix", "NIOEmbedded", "NIOHTTP1", "ArgumentParser", "CoreMetrics", "Prometheus",
        "CAviarySystem", "CAviaryResolv", "CAviaryOpenSSL", "CAviarySASL", "CAviaryCrypt", "CAviaryZlib",
    ]),
    ("toolbox", ["AviaryCore"]),
    # Codecs and storage: plain synchronous Swift (NIOCore for ByteBuffer at most), in three tiers.
    ("codecs and storage 1", ["AviaryConfig", "AviaryMessage", "AviaryMailbox", "AviaryDNS", "AviaryTLS", "AviaryPOP3"]),
    ("codecs and storage 2", ["AviaryQueue", "AviaryUsers", "AviarySMTP", "AviaryIMAP", "AviaryAuthentication"]),
    ("codecs and storage 3", ["AviaryIPC", "AviarySASL", "AviaryInstance"]),
    ("skeleton and test support", ["AviaryDaemon", "AviaryTestSupport"]),
    ("service libraries", [
        "AviarySMTPServer", "AviarySMTPClient", "AviaryQueueManager", "AviaryLocal", "AviaryPOP3Server",
        "AviaryIMAPServer", "AviaryAnvil", "AviaryMaster", "AviaryAdmin", "AviarySubmission", "AviaryPickup",
        "AviaryMetrics",
    ]),
    ("executables", [
        "master", "smtpd", "qmgr", "local", "aviary", "sendmail", "pickup", "showq", "anvil", "pop3d", "smtp",
        "pop3mail", "imapd", "imapmail", "metrics",
    ]),
    ("tests", [
        "AviaryCoreTests", "AviaryConfigTests", "AviaryMessageTests", "AviaryQueueTests", "AviaryMailboxTests",
        "AviaryUsersTests", "AviaryIPCTests", "AviaryTLSTests", "AviarySMTPTests", "AviarySASLTests",
        "AviaryInstanceTests", "AviarySMTPServerTests", "AviaryQueueManagerTests", "AviaryLocalTests",
        "AviarySMTPClientTests", "AviaryMasterTests", "AviaryAdminTests", "AviarySubmissionTests",
        "AviaryPOP3Tests", "AviaryPOP3ServerTests", "AviaryIMAPTests", "AviaryIMAPServerTests",
        "AviaryPickupTests", "AviaryMetricsTests", "AviaryAuthenticationTests", "IntegrationTests",
    ]),
]

# What a target must not link, directly or through its dependencies: the setgid sendmail runs for any local
# user, so it carries no command-line parser, no master, no TLS or SASL library and no event loop.
MUST_NOT_LINK = {
    "sendmail": ["ArgumentParser", "AviaryMaster", "AviaryAdmin", "AviaryTLS", "CAviaryOpenSSL", "AviarySASL",
                 "CAviarySASL", "NIOPosix", "CoreMetrics", "Prometheus", "AviaryMetrics"],
}

# Modules of the toolchain and the system: importable without a declaration.
SYSTEM_MODULES = {
    "Swift", "_Concurrency", "_StringProcessing", "Glibc", "Musl", "Darwin", "Foundation", "FoundationEssentials",
    "FoundationNetworking", "Dispatch", "XCTest", "Testing", "Synchronization", "RegexBuilder",
}

ROOT = pathlib.Path(__file__).resolve().parent.parent


def strip_comments(text):
    """Package.swift without // and /* */ comments (string literals, which hold URLs, are kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text[i] == '"':
            end = i + 1
            while end < n and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            out.append(text[i:end + 1])
            i = end + 1
        elif text.startswith("//", i):
            i = text.find("\n", i) if "\n" in text[i:] else n
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def balanced(text, start):
    """The text between the bracket at `start` and its partner (exclusive), and the index after the partner."""
    pairs = {"(": ")", "[": "]"}
    stack, i = [], start
    while i < len(text):
        c = text[i]
        if c == '"':
            i = text.index('"', i + 1)
        elif c in pairs:
            stack.append(pairs[c])
        elif stack and c == stack[-1]:
            stack.pop()
            if not stack:
                return text[start + 1:i], i + 1
        i += 1
    raise SystemExit(f"check-layers: unbalanced brackets in Package.swift at offset {start}")


def split_top_level(text):
    """Comma-separated items of an argument or array list, ignoring commas inside nested brackets."""
    items, depth, current, in_string = [], 0, [], False
    for c in text:
        if in_string:
            current.append(c)
            in_string = c != '"'
            continue
        if c == '"':
            in_string = True
        elif c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == "," and depth == 0:
            items.append("".join(current).strip())
            current = []
            continue
        current.append(c)
    if "".join(current).strip():
        items.append("".join(current).strip())
    return items


def parse_package(path):
    """{target name: {"kind", "dependencies", "directory"}} from Package.swift."""
    text = strip_comments(path.read_text())
    # `let logging = Target.Dependency.product(name: "Logging", package: "swift-log")`
    products = {
        m.group(1): m.group(2)
        for m in re.finditer(r'\blet\s+(\w+)\s*=\s*(?:Target\.Dependency)?\.product\(\s*name:\s*"([^"]+)"', text)
    }

    def dependency_name(item):
        m = re.fullmatch(r'"([^"]+)"', item)
        if m:
            return m.group(1)
        m = re.fullmatch(r'\.(?:product|target|byName)\(\s*name:\s*"([^"]+)".*\)', item, re.S)
        if m:
            return m.group(1)
        if item in products:
            return products[item]
        raise SystemExit(f"check-layers: cannot read the dependency `{item}` in Package.swift")

    def dependency_list(array_text):
        return [dependency_name(item) for item in split_top_level(array_text)]

    targets = {}

    def add(name, kind, dependencies, directory):
        if name in targets:
            raise SystemExit(f"check-layers: target {name} is declared twice in Package.swift")
        targets[name] = {"kind": kind, "dependencies": dependencies, "directory": directory}

    # The helper functions at the top of the file: library("Name", [...]), executable(...), tests(...).
    helpers = {"library": ("library", "Sources"), "executable": ("executable", "Sources"), "tests": ("test", "Tests")}
    for m in re.finditer(r'(?<![\w.])(library|executable|tests)\(\s*"', text):
        arguments, _ = balanced(text, m.end(1))
        items = split_top_level(arguments)
        name = dependency_name(items[0])
        kind, top = helpers[m.group(1)]
        if len(items) < 2 or not items[1].startswith("["):
            raise SystemExit(f"check-layers: {m.group(1)}(\"{name}\", ...) has no dependency array")
        add(name, kind, dependency_list(items[1][1:-1]), f"{top}/{name}")
    # Targets spelled out: .target(name: "X", ...), .testTarget, .executableTarget, .systemLibrary.
    kinds = {"target": "library", "executableTarget": "executable", "testTarget": "test", "systemLibrary": "system"}
    for m in re.finditer(r'\.(target|executableTarget|testTarget|systemLibrary)\(\s*name:\s*"([^"]+)"', text):
        arguments, _ = balanced(text, text.index("(", m.start()))
        kind = kinds[m.group(1)]
        dependencies = []
        directory = f"{'Tests' if kind == 'test' else 'Sources'}/{m.group(2)}"
        for item in split_top_level(arguments):
            label, _, value = item.partition(":")
            if label.strip() == "dependencies":
                dependencies = dependency_list(value.strip()[1:-1])
            elif label.strip() == "path":
                directory = value.strip().strip('"')
        add(m.group(2), kind, dependencies, directory)
    return targets


IMPORT = re.compile(
    r"^\s*(?:@\w+(?:\([^)]*\))?\s+)*"  # @testable, @_implementationOnly, @preconcurrency, ...
    r"(?:(?:public|package|internal|fileprivate|private|open)\s+)?"
    r"import\s+(?:(?:typealias|struct|class|enum|protocol|let|var|func|actor)\s+)?"
    r"([A-Za-z_]\w*)(?:\.\w+)*\s*(?://.*)?$"
)


def imports_in(path):
    """[(line number, module)] for the import declarations of one Swift file."""
    found, in_string = [], False
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not in_string:
            m = IMPORT.match(line)
            if m:
                found.append((number, m.group(1)))
        # A multi-line string literal opens and closes with """ (#""" for a raw one): what is between is text.
        in_string ^= line.count('"""') % 2 == 1
    return found


def main():
    if "--table" in sys.argv[1:]:
        for index, (name, members) in enumerate(LAYERS):
            print(f"{index}  {name}: {' '.join(members)}")
        return 0
    targets = parse_package(ROOT / "Package.swift")
    layer_of = {}
    problems = []
    for index, (_, members) in enumerate(LAYERS):
        for member in members:
            if member in layer_of:
                problems.append(f"the layer table lists {member} twice")
            layer_of[member] = index
    for name in targets:
        if name not in layer_of:
            problems.append(f"{name} is a target of Package.swift but in no layer of scripts/check-layers.py")
    known_modules = set(targets) | {dep for t in targets.values() for dep in t["dependencies"]}
    for name in layer_of:
        if name not in known_modules:
            problems.append(f"the layer table lists {name}, which Package.swift neither declares nor uses")

    for name, target in sorted(targets.items()):
        if target["kind"] == "system":
            continue
        directory = ROOT / target["directory"]
        if not directory.is_dir():
            problems.append(f"{name}: its directory {target['directory']} does not exist")
            continue
        imported = {}
        for path in sorted(directory.rglob("*.swift")):
            for number, module in imports_in(path):
                imported.setdefault(module, f"{path.relative_to(ROOT)}:{number}")
        declared = target["dependencies"]
        for module, where in sorted(imported.items()):
            if module in SYSTEM_MODULES or module == name:
                continue
            if module not in declared:
                problems.append(f"{where}: {name} imports {module}, which Package.swift does not declare for {name}")
        for module in declared:
            if module in imported:
                continue
            if target["kind"] == "test" and targets.get(module, {}).get("kind") == "executable":
                continue  # built first so the test can run it
            problems.append(f"Package.swift: {name} declares {module} but no file in {target['directory']} imports it")
        for module in sorted(set(declared) | (set(imported) - SYSTEM_MODULES - {name})):
            if name not in layer_of or module not in layer_of:
                continue
            if layer_of[module] >= layer_of[name]:
                direction = "a sideways" if layer_of[module] == layer_of[name] else "an upward"
                where = imported.get(module, "Package.swift")
                problems.append(
                    f"{where}: {name} ({LAYERS[layer_of[name]][0]}) imports {module} ({LAYERS[layer_of[module]][0]}):"
                    f" {direction} import; move what it needs down a layer"
                )

    for name, forbidden in MUST_NOT_LINK.items():
        linked, pending = set(), list(targets.get(name, {}).get("dependencies", []))
        while pending:
            module = pending.pop()
            if module not in linked:
                linked.add(module)
                pending += targets.get(module, {}).get("dependencies", [])
        for module in forbidden:
            if module in linked:
                problems.append(f"Package.swift: {name} links {module} through its dependencies; it must not")

    if problems:
        for problem in problems:
            print(f"check-layers: {problem}")
        print(f"check-layers: {len(problems)} problem(s); the layer table is in scripts/check-layers.py")
        return 1
    print(f"check-layers: {len(targets)} targets, imports equal Package.swift, every import points down a layer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
