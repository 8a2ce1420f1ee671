import AviaryConfig
import AviaryUsers

/// The files an administrator writes (and `aviary check` reads): main.cf, master.cf, aliases, users, lookup tables.
enum ConfigTargets {
    /// main.cf (parse expands and checks every known parameter), then names from the text expanded.
    static func mainCF(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        guard case .success(let config) = Result(catching: { () throws(ConfigurationError) in
            try MainConfig.parse(text, directory: "/etc/aviary")
        }) else { return }
        // parse has already expanded and checked every parameter of Parameter.table once.
        _ = config.integer(.messageSizeLimit)
        _ = config.seconds(.maximalQueueLifetime)
        _ = config.list(.mydestination)
        // A few names, each once: one expansion may cost up to MainConfig.expansionLimit.
        var names: Set<String> = []
        for line in lines(of: bytes) {
            let text = String(decoding: line, as: UTF8.self)
            let name = String(text.prefix { $0 != "=" && $0 != " " })
            if names.count < 8, names.insert(name).inserted { _ = config.expanded(name: name) }
            _ = MainConfig.parseTime(text, defaultUnit: "s")
        }
        _ = config.expand(String(decoding: bytes.prefix(256), as: UTF8.self))
    }

    static func masterCF(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        guard case .success(let master) = Result(catching: { () throws(ConfigurationError) in
            try MasterConfig.parse(text, path: "/etc/aviary/master.cf")
        }) else { return }
        _ = master.services.map(\.overridePairs)
    }

    /// An aliases file, each line also as an alias target list and as a `|command` to split into arguments.
    static func aliases(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        if case .success(let table) = Result(catching: { () throws(ConfigurationError) in
            try AliasTable.parse(text, file: "/etc/aviary/aliases")
        }) {
            for name in table.entries.keys { _ = table.targets(for: name) }
        }
        for line in lines(of: bytes) {
            let text = String(decoding: line, as: UTF8.self)
            _ = try? AliasTarget.parseList(text, file: "/etc/aviary/aliases")
            _ = try? CommandArguments.split(text)
        }
    }

    /// A users file (passwd-style, for pop3d, imapd and SASL) and the same text as a lookup table.
    static func users(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        if case .success(let users) = Result(catching: { () throws(ConfigurationError) in
            try PasswdFile.parse(text, file: "/etc/aviary/users")
        }) {
            for entry in users.entries {
                require(users.lookup(entry.user) != nil, "user \(entry.user) parsed but not found")
                _ = entry.password.map { PasswordHash($0.description) }
            }
        }
        if case .success(let table) = Result(catching: { () throws(ConfigurationError) in
            try LookupTable.parse(text, file: "/etc/aviary/access")
        }) {
            for key in table.entries.keys { _ = table.value(for: key) }
        }
        for line in lines(of: bytes) {
            let text = String(decoding: line, as: UTF8.self)
            _ = PasswordHash(text)
            _ = LookupTable.accessKeys(forAddress: text)
        }
    }
}
