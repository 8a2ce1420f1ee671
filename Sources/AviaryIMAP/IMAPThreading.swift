// THREAD (RFC 5256 3): ORDEREDSUBJECT groups messages by base subject; REFERENCES links messages through
// Message-ID, References and In-Reply-To, with dummy parents for messages that are not there, then gathers
// top-level threads of one base subject and orders siblings by sent date. Both work on arrays indexed by
// container number and sort each sibling list once; no pass walks the tree recursively, so a thread of
// thousands of messages costs no stack. The one walk that is not constant is the loop check of a new link,
// which climbs from the new parent to its root; it is skipped when the new child has no children (then no
// loop is possible), which is the case for a message appended to a thread in mailbox order.

/// What THREAD needs of one message, taken from its header once per command.
public struct IMAPThreadMessage: Sendable, Hashable {
    /// The number answered: a sequence number, or a UID for UID THREAD.
    public var number: UInt32
    /// The sent date (`Date:` in UTC, else INTERNALDATE).
    public var sent: Int64
    public var subject: IMAPBaseSubject
    /// The Message-ID without its angle brackets; nil when there is none.
    public var messageID: String?
    /// The IDs of References, oldest first; the first ID of In-Reply-To when References has none.
    public var references: [String]

    public init(number: UInt32, sent: Int64, subject: IMAPBaseSubject, messageID: String?, references: [String]) {
        self.number = number
        self.sent = sent
        self.subject = subject
        self.messageID = messageID
        self.references = references
    }

    /// The msg-ids (`<...>`) in a field's value, without brackets, in order.
    public static func messageIDs(in value: String?) -> [String] {
        guard let value else { return [] }
        var ids: [String] = []
        var id: [UInt8] = []
        var isInside = false
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "<"):
                isInside = true
                id.removeAll(keepingCapacity: true)
            case UInt8(ascii: ">") where isInside:
                if !id.isEmpty { ids.append(String(decoding: id, as: UTF8.self)) }
                isInside = false
            case 9, 10, 13, 32: break
            default: if isInside { id.append(byte) }
            }
        }
        return ids
    }
}

/// A THREAD answer: a forest whose nodes are messages or, for REFERENCES, dummies standing for a missing parent.
public struct IMAPThreadTree: Sendable, Hashable {
    /// Per node, the message number (nil for a dummy) and the children in order.
    public var numbers: [UInt32?] = []
    public var children: [[Int]] = []
    /// The top-level nodes in order.
    public var roots: [Int] = []

    public init() {}

    mutating func add(_ number: UInt32?) -> Int {
        numbers.append(number)
        children.append([])
        return numbers.count - 1
    }

    /// The answer's threads: `(3 6 (4 23)(44 7 96))`; a chain of only children is written flat, a node with
    /// several children gives each its own parentheses, and a dummy is written as its children alone.
    public var description: String {
        enum Work {
            case node(Int)
            case text(String)
        }
        var out = ""
        for root in roots {
            var stack: [Work] = [.text(")"), .node(root), .text("(")]
            while let work = stack.popLast() {
                switch work {
                case .text(let text): out += text
                case .node(let node):
                    let kids = children[node]
                    if let number = numbers[node] {
                        out += String(number)
                        if !kids.isEmpty { out += " " }
                        if kids.count == 1 {
                            stack.append(.node(kids[0]))
                            continue
                        }
                    }
                    for kid in kids.reversed() { stack += [.text(")"), .node(kid), .text("(")] }
                }
            }
        }
        return out
    }
}

/// The two THREAD algorithms over the messages a search found, in mailbox order.
public enum IMAPThreading {
    /// ORDEREDSUBJECT (RFC 5256 3): messages sorted by base subject and sent date; each run of one base subject
    /// is a thread whose first message is the parent of all the others; threads ordered by their first date.
    public static func orderedSubject(_ messages: [IMAPThreadMessage]) -> IMAPThreadTree {
        let order = messages.indices.sorted { left, right in
            let a = messages[left]
            let b = messages[right]
            if a.subject.key != b.subject.key { return a.subject.key.lexicographicallyPrecedes(b.subject.key) }
            return (a.sent, left) < (b.sent, right)
        }
        var tree = IMAPThreadTree()
        var firsts: [(sent: Int64, position: Int, node: Int)] = []
        var parent = -1
        for (rank, position) in order.enumerated() {
            let message = messages[position]
            let node = tree.add(message.number)
            if rank > 0, messages[order[rank - 1]].subject.key == message.subject.key {
                tree.children[parent].append(node)
            } else {
                parent = node
                firsts.append((message.sent, position, node))
            }
        }
        tree.roots = firsts.sorted { ($0.sent, $0.position) < ($1.sent, $1.position) }.map(\.node)
        return tree
    }

    /// REFERENCES (RFC 5256 3, after Jamie Zawinski's algorithm), steps 1 to 6.
    public static func references(_ messages: [IMAPThreadMessage]) -> IMAPThreadTree {
        var threader = ReferenceThreader(messages)
        return threader.run()
    }
}

/// The state of one REFERENCES run: containers are numbered, `message[c]` is the message's position or nil
/// for a dummy.
struct ReferenceThreader {
    let messages: [IMAPThreadMessage]
    var message: [Int?] = []
    var parent: [Int?] = []
    var children: [[Int]] = []
    var byID: [String: Int] = [:]

    init(_ messages: [IMAPThreadMessage]) {
        self.messages = messages
        message.reserveCapacity(messages.count)
    }

    mutating func run() -> IMAPThreadTree {
        for position in messages.indices { link(position) }
        children = Array(repeating: [], count: parent.count)
        for container in parent.indices {
            if let above = parent[container] { children[above].append(container) }
        }
        // Step 2: the root set.
        var roots = parent.indices.filter { parent[$0] == nil }
        roots = prune(roots)
        sortSiblings(&roots)  // step 4
        roots = gatherSubjects(roots)  // step 5
        sortSiblings(&roots)  // step 6
        var tree = IMAPThreadTree()
        var node = [Int](repeating: -1, count: message.count)
        for container in message.indices { node[container] = tree.add(message[container].map { messages[$0].number }) }
        for container in message.indices { tree.children[node[container]] = children[container].map { node[$0] } }
        tree.roots = roots.map { node[$0] }
        return tree
    }

    mutating func container(_ position: Int?) -> Int {
        message.append(position)
        parent.append(nil)
        children.append([])
        return message.count - 1
    }

    /// The container of a referenced ID: the one known, or a new dummy.
    mutating func container(id: String) -> Int {
        if let known = byID[id] { return known }
        let made = container(nil)
        byID[id] = made
        return made
    }

    /// Step 1 for one message.
    mutating func link(_ position: Int) {
        let current = messages[position]
        // A message without a Message-ID, or with one an earlier message has, gets a container of its own.
        let own: Int
        if let id = current.messageID, let known = byID[id], message[known] == nil {
            own = known
            message[known] = position
        } else {
            own = container(position)
            if let id = current.messageID, byID[id] == nil { byID[id] = own }
        }
        // 1A: link the references in order, leaving any link that is already there.
        var previous: Int?
        for id in current.references {
            let next = container(id: id)
            if let previous, parent[next] == nil, next != previous, !wouldLoop(next, under: previous) {
                setParent(next, previous)
            }
            previous = next
        }
        // 1B: the last reference is the parent, replacing what an earlier message's References said.
        // The old parent's child list is left as it is (a scan of it per message could be quadratic);
        // `parent` is what counts, and the lists are rebuilt from it once every message is linked.
        parent[own] = nil
        if let last = previous, last != own, !wouldLoop(own, under: last) { setParent(own, last) }
    }

    /// Whether putting `child` under `newParent` would make a cycle. A container without children cannot be
    /// above anything, so the usual case (a new message at the end of a long thread) costs no walk; a child list
    /// that is out of date (see `link`) only costs a walk that was not needed.
    func wouldLoop(_ child: Int, under newParent: Int) -> Bool {
        !children[child].isEmpty && isAncestor(child, of: newParent)
    }

    mutating func setParent(_ child: Int, _ newParent: Int) {
        parent[child] = newParent
        children[newParent].append(child)
    }

    /// Whether `candidate` is `node` or above it.
    func isAncestor(_ candidate: Int, of node: Int) -> Bool {
        var cursor: Int? = node
        while let current = cursor {
            if current == candidate { return true }
            cursor = parent[current]
        }
        return false
    }

    /// Step 3: a dummy without children goes; one with children gives them to its parent, except at the top
    /// level, where it stays when it has more than one. Children are done before their parents (post-order).
    mutating func prune(_ roots: [Int]) -> [Int] {
        var order: [Int] = []
        var stack = roots
        while let node = stack.popLast() {
            order.append(node)
            stack += children[node]
        }
        for node in order.reversed() {
            var kept: [Int] = []
            for child in children[node] {
                if message[child] == nil {
                    for grandchild in children[child] { parent[grandchild] = node }
                    kept += children[child]
                    children[child] = []
                } else {
                    kept.append(child)
                }
            }
            children[node] = kept
        }
        var top: [Int] = []
        for root in roots {
            if message[root] == nil && children[root].count < 2 {
                for child in children[root] { parent[child] = nil }
                top += children[root]
                children[root] = []
            } else {
                top.append(root)
            }
        }
        return top
    }

    /// The sent date and mailbox position a container sorts by: a dummy's are its first child's.
    func sortKey(_ node: Int) -> (Int64, Int) {
        var cursor = node
        while message[cursor] == nil, let first = children[cursor].first { cursor = first }
        guard let position = message[cursor] else { return (Int64.max, Int.max) }
        return (messages[position].sent, position)
    }

    /// Sorts every sibling list by sent date, the children of dummies before the top level that uses them.
    mutating func sortSiblings(_ roots: inout [Int]) {
        for node in children.indices where children[node].count > 1 && message[node] != nil {
            children[node] = sortedByKey(children[node])
        }
        for node in roots where message[node] == nil { children[node] = sortedByKey(children[node]) }
        roots = sortedByKey(roots)
    }

    func sortedByKey(_ nodes: [Int]) -> [Int] {
        nodes.map { (key: sortKey($0), node: $0) }.sorted { $0.key < $1.key }.map(\.node)
    }

    /// The subject a top-level container is gathered by (a dummy's first child's), nil when it is empty.
    func subject(_ node: Int) -> IMAPBaseSubject? {
        let position = message[node] ?? children[node].first.flatMap { message[$0] }
        guard let position, !messages[position].subject.key.isEmpty else { return nil }
        return messages[position].subject
    }

    /// Step 5: top-level threads of one base subject are gathered under one container.
    mutating func gatherSubjects(_ roots: [Int]) -> [Int] {
        var table: [[UInt8]: Int] = [:]
        for root in roots {
            guard let subject = subject(root) else { continue }
            guard let held = table[subject.key] else {
                table[subject.key] = root
                continue
            }
            let rootIsDummy = message[root] == nil
            let heldIsDummy = message[held] == nil
            if (rootIsDummy && !heldIsDummy)
                || (!rootIsDummy && !heldIsDummy && isReply(held) && !isReply(root))
            {
                table[subject.key] = root
            }
        }
        var replacement: [Int: Int] = [:]
        var removed = Set<Int>()
        for root in roots {
            // A root that became a child here (the table's old entry, now under a new dummy) stays there.
            guard parent[root] == nil, let subject = subject(root), let held = table[subject.key], held != root
            else { continue }
            let rootIsDummy = message[root] == nil
            let heldIsDummy = message[held] == nil
            if rootIsDummy && heldIsDummy {
                for child in children[root] { setParent(child, held) }
                children[root] = []
            } else if heldIsDummy || (!isReply(held) && isReply(root)) {
                setParent(root, held)
            } else {
                let dummy = container(nil)
                setParent(held, dummy)
                setParent(root, dummy)
                replacement[held] = dummy
                table[subject.key] = dummy
            }
            removed.insert(root)
        }
        return roots.compactMap { removed.contains($0) ? nil : (replacement[$0] ?? $0) }
    }

    func isReply(_ node: Int) -> Bool {
        message[node].map { messages[$0].subject.isReplyOrForward } ?? false
    }
}
