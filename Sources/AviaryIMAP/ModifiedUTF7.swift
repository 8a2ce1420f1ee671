/// Modified UTF-7 for mailbox names (RFC 3501 5.1.3). TODO(#11): the codec session implements it.
public enum ModifiedUTF7 {
    public static func encode(_ name: String) -> String { name }
    public static func decode(_ text: String) -> String? { text }
}
