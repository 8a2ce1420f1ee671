import AviaryConfig

/// What `aviary conf` prints (like `postconf`): parameters as `name = value`.
public enum ConfigurationReport {
    public enum Selection: Sendable {
        /// Every parameter with its current value.
        case all
        /// Only what main.cf sets (`-n`).
        case nonDefault
        /// The built-in defaults (`-d`).
        case defaults
    }

    /// - Parameters:
    ///   - names: only these parameters (an unknown name is reported as an error line).
    ///   - expand: show values with `$name` expanded (`-x`).
    /// - Returns: the output text and the names that are not parameters.
    public static func render(_ config: MainConfig, selection: Selection, names: [String], expand: Bool)
        -> (text: String, unknown: [String])
    {
        var lines: [String] = []
        var unknown: [String] = []
        let chosen: [String]
        if names.isEmpty {
            switch selection {
            case .nonDefault:
                chosen = Parameter.table.map(\.name).filter { config.isExplicit($0) }
                    + config.explicitValues.keys.filter { Parameter.byName[$0] == nil }.sorted()
            default: chosen = Parameter.table.map(\.name)
            }
        } else {
            chosen = names
        }
        for name in chosen {
            let value: String?
            switch selection {
            case .defaults:
                value = Parameter.byName[name].map { expand ? config.expand($0.defaultValue) : $0.defaultValue }
            default:
                if expand { value = config.rawValue(name) == nil ? nil : config.expanded(name: name) } else {
                    value = config.rawValue(name)
                }
            }
            guard let value else {
                unknown.append(name)
                continue
            }
            lines.append(value.isEmpty ? "\(name) =" : "\(name) = \(value)")
        }
        return (lines.map { $0 + "\n" }.joined(), unknown)
    }
}
