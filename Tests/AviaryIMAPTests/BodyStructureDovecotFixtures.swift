// Generated from Dovecot 2.3.19.1 (`doveadm fetch imap.bodystructure imap.body imap.envelope`) for the same
// messages; literals Dovecot sends for text with quotes are in the quoted form IMAPWriter picks. Deliberate
// differences are marked where they are.

enum DovecotFixtures {
    struct Fixture: Sendable {
        var name: String
        var message: String
        var bodyStructure: String
        var body: String
        var envelope: String
    }

    static let all: [Fixture] = [
        // Dovecot lowercases BODY for plain 7-bit text (a shortcut); Aviary writes BODY as BODYSTRUCTURE.
        Fixture(
            name: "simple",
            message: "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\nFrom: Fred Foobar <foobar@Blurdybloop.example>\r\nSubject: afternoon meeting\r\nTo: mooch@owatagu.siam.edu.example\r\nMessage-Id: <B27397-0100000@Blurdybloop.example>\r\nMIME-Version: 1.0\r\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\nHello Joe, do you think we can meet at 3:30 tomorrow?\r\n",
            bodyStructure: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7bit\" 55 1 NIL NIL NIL NIL)",
            body: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7bit\" 55 1)",
            envelope: "(\"Mon, 7 Feb 1994 21:52:25 -0800 (PST)\" \"afternoon meeting\" ((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) ((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) ((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) ((NIL NIL \"mooch\" \"owatagu.siam.edu.example\")) NIL NIL NIL \"<B27397-0100000@Blurdybloop.example>\")"
        ),
        Fixture(
            name: "mixed",
            message: "From: \"Doe, John\" <john@example.org>\r\nTo: a@example.org, \"B \\\"Q\\\" Person\" <b@example.org>\r\nCc: team: c@example.org, d@example.org;, e@example.org\r\nSubject: report\r\nDate: Tue, 1 Jan 2030 10:00:00 +0000\r\nMessage-ID: <m1@example.org>\r\nIn-Reply-To: <m0@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XYZ\"; foo=bar\r\n\r\npreamble text\r\n--XYZ\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\nsee attached\r\n--XYZ\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\nContent-Transfer-Encoding: BASE64\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\nContent-Description: the \"final\" report\r\nContent-ID: <part2@example.org>\r\nContent-Language: en, de\r\nContent-Location: http://example.org/a.pdf\r\nContent-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n\r\nJVBERi0xLjQKJcfsj6IK\r\nJVBERi0xLjQKJcfsj6IK\r\n--XYZ--\r\nepilogue\r\n",
            bodyStructure: "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 12 0 NIL NIL NIL NIL)(\"application\" \"pdf\" (\"name\" \"a.pdf\") \"<part2@example.org>\" \"the \\\"final\\\" report\" \"BASE64\" 42 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"attachment\" (\"filename\" \"a.pdf\")) (\"en\" \"de\") \"http://example.org/a.pdf\") \"mixed\" (\"boundary\" \"XYZ\" \"foo\" \"bar\") NIL NIL NIL)",
            body: "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 12 0)(\"application\" \"pdf\" (\"name\" \"a.pdf\") \"<part2@example.org>\" \"the \\\"final\\\" report\" \"BASE64\" 42) \"mixed\")",
            envelope: "(\"Tue, 1 Jan 2030 10:00:00 +0000\" \"report\" ((\"Doe, John\" NIL \"john\" \"example.org\")) ((\"Doe, John\" NIL \"john\" \"example.org\")) ((\"Doe, John\" NIL \"john\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")(\"B \\\"Q\\\" Person\" NIL \"b\" \"example.org\")) ((NIL NIL \"team\" NIL)(NIL NIL \"c\" \"example.org\")(NIL NIL \"d\" \"example.org\")(NIL NIL NIL NIL)(NIL NIL \"e\" \"example.org\")) NIL \"<m0@example.org>\" \"<m1@example.org>\")"
        ),
        Fixture(
            name: "alternative",
            message: "From: a@example.org\r\nTo: b@example.org\r\nSubject: alt\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\nContent-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n--inner\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nplain\r\n--inner\r\nContent-Type: text/html; charset=\"utf-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>html</p>\r\n--inner--\r\n\r\n--outer\r\nContent-Type: image/png\r\nContent-Disposition: inline\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--outer--\r\n",
            bodyStructure: "(((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0 NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 11 0 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"inner\") NIL NIL NIL)(\"image\" \"png\" NIL NIL NIL \"base64\" 12 NIL (\"inline\" NIL) NIL NIL) \"mixed\" (\"boundary\" \"outer\") NIL NIL NIL)",
            body: "(((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0)(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 11 0) \"alternative\")(\"image\" \"png\" NIL NIL NIL \"base64\" 12) \"mixed\")",
            envelope: "(NIL \"alt\" ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"b\" \"example.org\")) NIL NIL NIL NIL)"
        ),
        Fixture(
            name: "rfc822",
            message: "From: outer@example.org\r\nTo: b@example.org\r\nSubject: fwd\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee below\r\n--b1\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\nFrom: Inner Person <inner@example.com>\r\nTo: x@example.com\r\nSubject: inner subject\r\nDate: Wed, 2 Jan 2030 11:00:00 +0100\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b2\r\n\r\n--b2\r\nContent-Type: text/plain\r\n\r\ninner plain\r\nline 2\r\n--b2\r\nContent-Type: text/html\r\n\r\n<b>inner</b>\r\n--b2--\r\n\r\n--b1--\r\n",
            bodyStructure: "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 9 0 NIL NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 302 (\"Wed, 2 Jan 2030 11:00:00 +0100\" \"inner subject\" ((\"Inner Person\" NIL \"inner\" \"example.com\")) ((\"Inner Person\" NIL \"inner\" \"example.com\")) ((\"Inner Person\" NIL \"inner\" \"example.com\")) ((NIL NIL \"x\" \"example.com\")) NIL NIL NIL NIL) ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 19 1 NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 0 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"b2\") NIL NIL NIL) 17 NIL (\"attachment\" NIL) NIL NIL) \"mixed\" (\"boundary\" \"b1\") NIL NIL NIL)",
            body: "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 9 0)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 302 (\"Wed, 2 Jan 2030 11:00:00 +0100\" \"inner subject\" ((\"Inner Person\" NIL \"inner\" \"example.com\")) ((\"Inner Person\" NIL \"inner\" \"example.com\")) ((\"Inner Person\" NIL \"inner\" \"example.com\")) ((NIL NIL \"x\" \"example.com\")) NIL NIL NIL NIL) ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 19 1)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 0) \"alternative\") 17) \"mixed\")",
            envelope: "(NIL \"fwd\" ((NIL NIL \"outer\" \"example.org\")) ((NIL NIL \"outer\" \"example.org\")) ((NIL NIL \"outer\" \"example.org\")) ((NIL NIL \"b\" \"example.org\")) NIL NIL NIL NIL)"
        ),
        Fixture(
            name: "nocontenttype",
            message: "From: x@example.org\r\nSubject: no type\r\nMIME-Version: 1.0\r\n\r\njust text\r\ntwo lines\r\n",
            bodyStructure: "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 22 2 NIL NIL NIL NIL)",
            body: "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 22 2)",
            envelope: "(NIL \"no type\" ((NIL NIL \"x\" \"example.org\")) ((NIL NIL \"x\" \"example.org\")) ((NIL NIL \"x\" \"example.org\")) NIL NIL NIL NIL NIL)"
        ),
        Fixture(
            name: "noheader",
            message: "\r\nbody only\r\n",
            bodyStructure: "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 11 1 NIL NIL NIL NIL)",
            body: "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 11 1)",
            envelope: "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
        ),
        Fixture(
            name: "malformedboundary",
            message: "From: x@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"nothere\"\r\n\r\n--other\r\nContent-Type: text/plain\r\n\r\ntext\r\n--other--\r\n",
            bodyStructure: "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"nothere\") NIL NIL NIL)",
            body: "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) \"mixed\")",
            envelope: "(NIL NIL ((NIL NIL \"x\" \"example.org\")) ((NIL NIL \"x\" \"example.org\")) ((NIL NIL \"x\" \"example.org\")) NIL NIL NIL NIL NIL)"
        ),
        Fixture(
            name: "noboundary",
            message: "From: x@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\ntext\r\n--b--\r\n",
            bodyStructure: "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) \"mixed\" NIL NIL NIL NIL)",
            body: "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) \"mixed\")",
            envelope: "(NIL NIL ((NIL NIL \"x\" \"example.org\")) ((NIL NIL \"x\" \"example.org\")) ((NIL NIL \"x\" \"example.org\")) NIL NIL NIL NIL NIL)"
        ),
        Fixture(
            name: "unterminated",
            message: "From: x@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\none\r\n--b\r\nContent-Type: text/plain\r\n\r\ntwo\r\n",
            bodyStructure: "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 0 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 1 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"b\") NIL NIL NIL)",
            body: "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 0)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 1) \"mixed\")",
            envelope: "(NIL NIL ((NIL NIL \"x\" \"example.org\")) ((NIL NIL \"x\" \"example.org\")) ((NIL NIL \"x\" \"example.org\")) NIL NIL NIL NIL NIL)"
        ),
        Fixture(
            name: "digest",
            message: "From: digest@example.org\r\nSubject: digest\r\nMIME-Version: 1.0\r\nContent-Type: multipart/digest; boundary=\"d\"\r\n\r\n--d\r\n\r\nFrom: one@example.org\r\nSubject: first\r\n\r\nfirst body\r\n--d\r\nContent-Type: message/rfc822\r\n\r\nFrom: two@example.org\r\nSubject: second\r\n\r\nsecond body\r\n--d\r\nContent-Type: text/plain\r\n\r\nnot a message\r\n--d--\r\n",
            bodyStructure: "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 51 (NIL \"first\" ((NIL NIL \"one\" \"example.org\")) ((NIL NIL \"one\" \"example.org\")) ((NIL NIL \"one\" \"example.org\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 0 NIL NIL NIL NIL) 3 NIL NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 53 (NIL \"second\" ((NIL NIL \"two\" \"example.org\")) ((NIL NIL \"two\" \"example.org\")) ((NIL NIL \"two\" \"example.org\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 11 0 NIL NIL NIL NIL) 3 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 13 0 NIL NIL NIL NIL) \"digest\" (\"boundary\" \"d\") NIL NIL NIL)",
            body: "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 51 (NIL \"first\" ((NIL NIL \"one\" \"example.org\")) ((NIL NIL \"one\" \"example.org\")) ((NIL NIL \"one\" \"example.org\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 0) 3)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 53 (NIL \"second\" ((NIL NIL \"two\" \"example.org\")) ((NIL NIL \"two\" \"example.org\")) ((NIL NIL \"two\" \"example.org\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 11 0) 3)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 13 0) \"digest\")",
            envelope: "(NIL \"digest\" ((NIL NIL \"digest\" \"example.org\")) ((NIL NIL \"digest\" \"example.org\")) ((NIL NIL \"digest\" \"example.org\")) NIL NIL NIL NIL NIL)"
        ),
        Fixture(
            name: "eightbitheader",
            message: "From: Jürgen Müller <j@example.de>\r\nTo: =?UTF-8?Q?J=C3=BCrgen?= <j2@example.de>\r\nSubject: Grüße aus Köln\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße\r\n",
            bodyStructure: "(\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"8bit\" 9 1 NIL NIL NIL NIL)",
            body: "(\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"8bit\" 9 1)",
            envelope: "(NIL {17}\r\nGrüße aus Köln (({15}\r\nJürgen Müller NIL \"j\" \"example.de\")) (({15}\r\nJürgen Müller NIL \"j\" \"example.de\")) (({15}\r\nJürgen Müller NIL \"j\" \"example.de\")) ((\"=?UTF-8?Q?J=C3=BCrgen?=\" NIL \"j2\" \"example.de\")) NIL NIL NIL NIL)"
        ),
        // Dovecot sends host "MISSING_DOMAIN" for an address without "@"; Aviary an empty host.
        Fixture(
            name: "addresses",
            message: "From: (comment) alice@example.org (Alice)\r\nSender: <@route.example,@other.example:bob@example.org>\r\nReply-To: undisclosed-recipients:;\r\nTo: \"quoted local\"@example.org, nodomain, Group One: a@b.example, C <c@d.example>;, last@example.org\r\nBcc: =?ISO-8859-1?Q?Andr=E9?= <andre@example.fr>\r\nSubject: =?UTF-8?B?w6lt?= test\r\nMessage-ID: <id@x>\r\nIn-Reply-To: <a@x> <b@x>\r\nMIME-Version: 1.0\r\n\r\nbody\r\n",
            bodyStructure: "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1 NIL NIL NIL NIL)",
            body: "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1)",
            envelope: "(NIL \"=?UTF-8?B?w6lt?= test\" ((\"Alice\" NIL \"alice\" \"example.org\")) ((NIL \"@route.example,@other.example\" \"bob\" \"example.org\")) ((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) ((NIL NIL \"quoted local\" \"example.org\")(NIL NIL \"nodomain\" \"\")(NIL NIL \"Group One\" NIL)(NIL NIL \"a\" \"b.example\")(\"C\" NIL \"c\" \"d.example\")(NIL NIL NIL NIL)(NIL NIL \"last\" \"example.org\")) NIL ((\"=?ISO-8859-1?Q?Andr=E9?=\" NIL \"andre\" \"example.fr\")) \"<a@x> <b@x>\" \"<id@x>\")"
        ),
        Fixture(
            name: "notmime",
            message: "From: x@example.org\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>no mime-version</p>\r\n",
            bodyStructure: "(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 24 1 NIL NIL NIL NIL)",
            body: "(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 24 1)",
            envelope: "(NIL NIL ((NIL NIL \"x\" \"example.org\")) ((NIL NIL \"x\" \"example.org\")) ((NIL NIL \"x\" \"example.org\")) NIL NIL NIL NIL NIL)"
        ),
        Fixture(
            name: "notrailingnewline",
            message: "From: x@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\none line no newline\r\n--b\r\nContent-Type: text/plain\r\n\r\na\r\nb\r\n\r\n--b--",
            bodyStructure: "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 19 0 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 2 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"b\") NIL NIL NIL)",
            body: "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 19 0)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 2) \"mixed\")",
            envelope: "(NIL NIL ((NIL NIL \"x\" \"example.org\")) ((NIL NIL \"x\" \"example.org\")) ((NIL NIL \"x\" \"example.org\")) NIL NIL NIL NIL NIL)"
        ),
        Fixture(
            name: "rfc2231",
            message: "From: x@example.org\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream; name*0=\"long\"; name*1=\"name.bin\"\r\nContent-Disposition: attachment; filename*=utf-8''%E2%82%AC%20rates.txt\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n",
            bodyStructure: "(\"application\" \"octet-stream\" (\"name\" \"longname.bin\") NIL NIL \"base64\" 6 NIL (\"attachment\" (\"filename*\" \"utf-8''%E2%82%AC%20rates.txt\")) NIL NIL)",
            body: "(\"application\" \"octet-stream\" (\"name\" \"longname.bin\") NIL NIL \"base64\" 6)",
            envelope: "(NIL NIL ((NIL NIL \"x\" \"example.org\")) ((NIL NIL \"x\" \"example.org\")) ((NIL NIL \"x\" \"example.org\")) NIL NIL NIL NIL NIL)"
        ),
        Fixture(
            name: "emptypart",
            message: "From: x@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n",
            bodyStructure: "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"b\") NIL NIL NIL)",
            body: "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0) \"mixed\")",
            envelope: "(NIL NIL ((NIL NIL \"x\" \"example.org\")) ((NIL NIL \"x\" \"example.org\")) ((NIL NIL \"x\" \"example.org\")) NIL NIL NIL NIL NIL)"
        ),
        Fixture(
            name: "multipartnoparts",
            message: "From: x@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b--\r\n",
            bodyStructure: "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"b\") NIL NIL NIL)",
            body: "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) \"mixed\")",
            envelope: "(NIL NIL ((NIL NIL \"x\" \"example.org\")) ((NIL NIL \"x\" \"example.org\")) ((NIL NIL \"x\" \"example.org\")) NIL NIL NIL NIL NIL)"
        ),
        Fixture(
            name: "qpmessage",
            message: "From: x@example.org\r\nMIME-Version: 1.0\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nRnJvbTogeQoKYm9keQo=\r\n",
            bodyStructure: "(\"message\" \"rfc822\" NIL NIL NIL \"base64\" 22 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) 1 NIL NIL NIL NIL)",
            body: "(\"message\" \"rfc822\" NIL NIL NIL \"base64\" 22 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) 1)",
            envelope: "(NIL NIL ((NIL NIL \"x\" \"example.org\")) ((NIL NIL \"x\" \"example.org\")) ((NIL NIL \"x\" \"example.org\")) NIL NIL NIL NIL NIL)"
        ),
        Fixture(
            name: "empty",
            message: "",
            bodyStructure: "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)",
            body: "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)",
            envelope: "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
        ),
    ]
}
