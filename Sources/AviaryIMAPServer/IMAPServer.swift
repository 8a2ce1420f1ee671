/// imapd's server library. TODO(#11): sessions.
public enum IMAPServerPlaceholder {}
