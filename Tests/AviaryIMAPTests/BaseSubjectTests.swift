import AviaryIMAP
import Testing

/// A subject, its base subject (RFC 5256 2.1) and whether extraction took it for a reply or forward.
struct BaseSubjectFixture: Sendable, CustomTestStringConvertible {
    var subject: String
    var base: String
    var isReply: Bool
    var testDescription: String { subject.debugDescription }

    init(_ subject: String, _ base: String, _ isReply: Bool) {
        self.subject = subject
        self.base = base
        self.isReply = isReply
    }
}

let baseSubjectFixtures: [BaseSubjectFixture] = [
    BaseSubjectFixture("hello", "hello", false),
    BaseSubjectFixture("Re: hello", "hello", true),
    BaseSubjectFixture("RE:hello", "hello", true),
    BaseSubjectFixture("re : hello", "hello", true),
    BaseSubjectFixture("Fw: hello", "hello", true),
    BaseSubjectFixture("FWD: hello", "hello", true),
    BaseSubjectFixture("Re: Re[2]: hello", "hello", true),
    BaseSubjectFixture("Re: Re: Fwd: Re: hello", "hello", true),
    BaseSubjectFixture("Re [3] : hello", "hello", true),
    BaseSubjectFixture("[list] Re: hello", "hello", true),
    BaseSubjectFixture("[list] hello", "hello", false),
    BaseSubjectFixture("[a][b] [c] hello", "hello", false),
    BaseSubjectFixture("[a] [b] Re: [c] Re: hello", "hello", true),
    // A blob that would leave nothing is the subject.
    BaseSubjectFixture("[only]", "[only]", false),
    BaseSubjectFixture("Re: [only]", "[only]", true),
    BaseSubjectFixture("[a] [only]", "[only]", false),
    BaseSubjectFixture("hello (fwd)", "hello", true),
    BaseSubjectFixture("hello (FWD) (fwd)  ", "hello", true),
    BaseSubjectFixture("hello(fwd)", "hello", true),
    BaseSubjectFixture("[fwd: hello]", "hello", true),
    BaseSubjectFixture("[Fwd: Re: hello]", "hello", true),
    BaseSubjectFixture("Fwd: [fwd: Re: hello] (fwd)", "hello", true),
    BaseSubjectFixture("[fwd: [fwd: hello (fwd)]]", "hello", true),
    // The "[fwd:" header with no closing bracket at the end is not a wrapper; the blob does not close either.
    BaseSubjectFixture("[fwd: hello", "[fwd: hello", false),
    BaseSubjectFixture("Reply: hello", "Reply: hello", false),
    BaseSubjectFixture("Fwdx: hello", "Fwdx: hello", false),
    BaseSubjectFixture("hello Re: there", "hello Re: there", false),
    BaseSubjectFixture("  \t Re:\t  hello   \t world  ", "hello world", true),
    BaseSubjectFixture("", "", false),
    BaseSubjectFixture("Re:", "", true),
    BaseSubjectFixture("Re: (fwd)", "", true),
    // Encoded words are decoded first, so markers inside them count.
    BaseSubjectFixture("=?UTF-8?Q?Re:_caf=C3=A9?=", "café", true),
    BaseSubjectFixture("=?ISO-8859-1?Q?Fwd=3A_=5Bliste=5D_Gr=FC=DFe?=", "Grüße", true),
    BaseSubjectFixture("Re: =?UTF-8?B?w6l0w6k=?= (fwd)", "été", true),
    BaseSubjectFixture("Ré: hello", "Ré: hello", false),
]

@Suite("Base subject (RFC 5256 2.1)")
struct BaseSubjectTests {
    @Test("Base subjects of the RFC's cases and tricky ones", arguments: baseSubjectFixtures)
    func baseSubject(fixture: BaseSubjectFixture) {
        let base = IMAPBaseSubject(fixture.subject)
        #expect(base.text == fixture.base)
        #expect(base.isReplyOrForward == fixture.isReply)
    }

    @Test("The comparison key folds ASCII letters only")
    func key() {
        #expect(IMAPBaseSubject("Re: Hello").key == IMAPBaseSubject("HELLO").key)
        #expect(IMAPBaseSubject("é").key == Array("é".utf8))
    }
}
