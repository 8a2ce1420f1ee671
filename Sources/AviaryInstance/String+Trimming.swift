extension String {
    /// The text without the characters of `set` at either end (sendmail's and SubmissionSettings' own
    /// trimming; no Foundation in the setgid sendmail).
    package func trimmingCharacters(in set: String) -> String {
        var scalars = Substring(self)
        while let first = scalars.first, set.contains(first) { scalars.removeFirst() }
        while let last = scalars.last, set.contains(last) { scalars.removeLast() }
        return String(scalars)
    }
}
