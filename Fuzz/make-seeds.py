#!/usr/bin/env python3
"""Writes the seed corpora under Fuzz/Corpus/<target>/: small, realistic inputs per fuzz target, taken from the
protocols' RFC examples, Aviary's test fixtures and its example configuration. Run it from anywhere; it
rewrites only the seed-*.bin files it owns (inputs that found bugs are kept beside them as regress-*)."""
import os
import re
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "Fuzz", "Corpus")
seeds = {}


def add(target, data):
    if isinstance(data, str):
        data = data.encode()
    seeds.setdefault(target, []).append(data)


def crlf(text):
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


# The stream targets read one control byte first: 0x80 = default limits, else small limits and odd reads.
session = crlf("""EHLO client.example.test
MAIL FROM:<alice@example.test> SIZE=1200 BODY=8BITMIME RET=HDRS ENVID=QQ314159
RCPT TO:<bob@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@example.test
RCPT TO:<"quoted local"@[192.0.2.1]>
DATA
Received: from a.example.test by b.example.test; Mon, 7 Dec 2026 05:00:00 +0000
From: Alice <alice@example.test>
Subject: test

Hello
..dot-stuffed line
.
QUIT
""")
add("smtp-command", session)
add("smtp-command", crlf("""HELO [IPv6:2001:db8::1]
MAIL FROM:<> SMTPUTF8
MAIL FROM:<@relay1.test,@relay2.test:user@example.test>
RCPT TO:<Postmaster>
RCPT TO:<j\u00f6rg@b\u00fccher.example>
BDAT 86 LAST
BDAT 0
VRFY alice
EXPN staff
HELP MAIL
NOOP hello
RSET
STARTTLS
AUTH PLAIN AGFsaWNlAHNlY3JldA==
AUTH LOGIN
AUTH PLAIN =
XCLIENT ADDR=1.2.3.4
"""))
add("smtp-frames", b"\x80" + session.encode())
add("smtp-frames", b"\x10" + session.encode())
bdat = crlf("EHLO c.test\nMAIL FROM:<a@b.test>\nRCPT TO:<c@d.test>\n") + "BDAT 20\r\nSubject: x\r\n\r\nhello\r\nBDAT 0 LAST\r\nBDAT 5 LAST\r\n12345QUIT\r\n"
add("smtp-frames", b"\x80" + bdat.encode())
add("smtp-frames", b"\x05" + bdat.encode())
add("smtp-frames", b"\x80" + b"DATA\r\nbare\nlf\r\nbare\rcr\r\n.\r\nDATA\r\n.\r\n")

ehlo = crlf("""220 mx.example.test ESMTP ready
250-mx.example.test Hello client.example.test
250-PIPELINING
250-SIZE 10240000
250-8BITMIME
250-SMTPUTF8
250-DSN
250-STARTTLS
250-AUTH PLAIN LOGIN CRAM-MD5
250-AUTH=LOGIN
250 ENHANCEDSTATUSCODES
250 2.1.0 Ok
334 VXNlcm5hbWU6
334 UGFzc3dvcmQ6
235 2.7.0 Authentication successful
550-5.1.1 <nobody@example.test>: Recipient address rejected:
550 5.1.1 User unknown in virtual mailbox table
354 End data with <CR><LF>.<CR><LF>
451 4.3.0 Error: queue file write error
221 2.0.0 Bye
""")
add("smtp-reply", b"\x00" + ehlo.encode())
add("smtp-reply", b"\x01" + ehlo.encode())


def milter(letter, payload=b""):
    return struct.pack(">I", len(payload) + 1) + letter.encode() + payload


add("milter-reply", milter("O", struct.pack(">III", 6, 0x1FF, 0x1FFFFF) + struct.pack(">I", 0) + b"j {daemon_name}\0")
    + milter("c") + milter("p") + milter("h", b"X-Spam\0yes\0") + milter("i", struct.pack(">I", 1) + b"DKIM-Signature\0v=1\0")
    + milter("m", struct.pack(">I", 1) + b"Subject\0\0") + milter("y", b"550 5.7.1 Spam\0") + milter("a"))
add("milter-reply", milter("b", b"new body\r\n") + milter("e", b"<s@example.test>\0") + milter("+", b"<r@example.test>\0")
    + milter("2", b"<r@example.test>\0NOTIFY=NEVER\0") + milter("-", b"<x@example.test>\0") + milter("q", b"spam\0")
    + milter("t") + milter("d") + milter("r") + milter("s"))
add("smtp-reply", b"\x02" + b"220 hi\n250-a\n250 b\n421 4.4.2 timeout\r\n")

add("sasl", "AGFsaWNlAHNlY3JldA==\nVXNlcm5hbWU6\nUGFzc3dvcmQ6\n\n=\n*\nYWxpY2U=\nc2VjcmV0\nAA==\n")
add("sasl", "dXNlcgBwYXNzd29yZA==\n")

pop3 = crlf("""CAPA
USER alice@example.test
PASS secret
APOP mrose c4c9334bac560ecc979e58001b3e22fb
AUTH PLAIN AGFsaWNlAHNlY3JldA==
AUTH LOGIN
YWxpY2U=
*
STLS
STAT
LIST
LIST 1
RETR 1
TOP 1 10
UIDL 2
DELE 1
NOOP
RSET
QUIT
""")
add("pop3-command", b"\x80" + pop3.encode())
add("pop3-command", b"\x08" + pop3.encode())

imap = crlf("""a1 CAPABILITY
a2 LOGIN {5}
alice {6+}
secret
a3 ENABLE CONDSTORE UTF8=ACCEPT
a4 ID ("name" "client" "version" "1.0")
a5 LIST "" "*" RETURN (SUBSCRIBED CHILDREN STATUS (MESSAGES UNSEEN))
a6 LIST (SUBSCRIBED) "" ("INBOX" "Sent")
a7 SELECT INBOX (CONDSTORE)
a8 EXAMINE "Entw&APw-rfe"
a9 FETCH 1:* (FLAGS UID RFC822.SIZE INTERNALDATE ENVELOPE BODYSTRUCTURE)
a10 UID FETCH 1:4,7,9:* (BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT)] BODY[1.2.MIME] BINARY[1]<0.100>) (CHANGEDSINCE 12)
a11 SEARCH CHARSET UTF-8 OR (FROM "alice" SINCE 1-Feb-1994) NOT (SEEN LARGER 1000) UID 1:5 HEADER Subject {3+}
foo
a12 UID SEARCH RETURN (MIN MAX COUNT SAVE) UNDELETED BEFORE 7-Jul-2026
a13 STORE 1:3 +FLAGS.SILENT (\\Seen \\Flagged $Label1)
a14 UID STORE $ -FLAGS (\\Deleted) (UNCHANGEDSINCE 5)
a15 APPEND Sent (\\Seen) "17-Jul-1996 02:44:25 -0700" {12+}
Hello world!
a16 CREATE Archive/2026 (USE (\\Archive))
a17 UID MOVE 1:* Trash
a18 COPY 2 "Sent"
a19 STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ)
a20 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==
a21 IDLE
DONE
a22 UNSELECT
a23 EXPUNGE
a24 UID EXPUNGE 3:5
a25 NOOP
a26 STARTTLS
a27 LOGOUT
a28 ENABLE QRESYNC
a29 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541 (1:3,5 41,43,45,50)))
a30 UID FETCH 300:* (FLAGS MODSEQ) (CHANGEDSINCE 12345 VANISHED)
a31 SEARCH MODSEQ "/flags/\\draft" all 620162338
a32 COMPRESS DEFLATE
a33 ENABLE UTF8=ACCEPT IMAP4rev2
a34 APPEND Entwürfe (\\Seen) {5+}
hello "17-Jul-1996 02:44:25 -0700" ~{3+}
a\x00b UTF8 (~{2+}
hi)
a35 FETCH 1 (BINARY.PEEK[1.2]<0.10> BINARY.SIZE[1] BINARY[])
a36 STATUS INBOX (SIZE DELETED MESSAGES)
""")
add("imap-command", b"\x80" + imap.encode())
add("imap-command", b"\x10" + imap.encode())
add("imap-command", b"\x81" + b"x LOGIN {4294967296}\r\n" + b"y APPEND INBOX ~{3}\r\nab\x00\r\n")
add("imap-text", "INBOX\n&AOk-t&AOk-\nEntw&APw-rfe\n&Jjo-!\n~peter/mail/&U,BTFw-/&ZeVnLIqe-\n&-\n"
    "17-Jul-1996 02:44:25 -0700\n 7-Jul-1996 02:44:25 +0000\n07-jul-1996 23:59:60 +2359\n1-Feb-1994\n31-Dec-9999\n")


def queue_file(sender, recipients, message, attributes=()):
    out = b"AVIARY-QUEUE 1\nT 1796511600.123456\nS " + sender + b"\n"
    for a in attributes:
        out += b"A " + a + b"\n"
    for r in recipients:
        out += b"R " + r + b"\n"
    out += b"M\n" + message + b"E " + b"%020d" % len(message) + b"\n"
    return out


msg = crlf("From: a@example.test\nTo: b@example.test\nSubject: hi\n\nbody\n").encode()
add("queue-file", queue_file(b"alice@example.test", [b"P - - bob@example.test",
    b"D SUCCESS,FAILURE rfc822;c@d.test c@d.test"], msg, [b"client_address=192.0.2.1", b"helo_name=c.test"]))
add("queue-file", queue_file(b"", [b"B - - x%20y@example.test"], b""))
add("queue-file", queue_file(b"%25odd%0D%0A", [b"P NEVER - -%2D@x.test"], msg))

for target, path in [("main-cf", "main.cf.example"), ("master-cf", "master.cf.example"),
                     ("aliases", "etc/aliases.example"), ("users", "etc/users.example")]:
    with open(os.path.join(ROOT, path), "rb") as f:
        add(target, f.read())
add("main-cf", "myhostname = mx.example.test\nmydomain = example.test\nmyorigin = $mydomain\n"
    "mydestination = $myhostname, localhost.$mydomain, ${mydomain}\n  continued\n"
    "smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination\n"
    "maximal_queue_lifetime = 5d\nbounce_queue_lifetime = 3h\nmessage_size_limit = 10240000\n"
    "a = $b $b\nb = $c\nc = $(a)\n# comment\n")
add("master-cf", "smtp      inet  n       -       n       -       -       smtpd\n"
    "submission inet n       -       n       -       -       smtpd\n  -o syslog_name=aviary/submission\n"
    "  -o smtpd_tls_security_level=encrypt\n  -o { smtpd_client_restrictions = permit_sasl_authenticated, reject }\n"
    "pickup    unix  n       -       n       60      1       pickup\n127.0.0.1:2525 inet n - n - 10 smtpd\n")
add("aliases", "postmaster: root\nteam: alice@example.test, bob,\n  carol@example.test\n"
    "archive: /var/mail/archive\ntickets: \"|/usr/local/bin/new-ticket --queue 'support desk' \\\"x\\\"\"\n"
    "\"quoted name\": :include:/etc/aviary/list\nself: self\n")
add("users", "alice@example.test:{SHA512-CRYPT}$6$salt$hash::::::\nbob@example.test:{PLAIN}secret:1000:1000:/home/bob::userdb_quota_rule=*:storage=1G\n"
    "carol:{YESCRYPT}$y$j9T$salt$hash\n# comment\n\nexample.test OK\n192.0.2 REJECT\n")

add("address", "\"Joe Q. Public\" <john.q.public@example.com>, Mary Smith <mary@x.test>, jdoe@one.test (comment), "
    "A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;, Undisclosed recipients:;")
add("address", "=?UTF-8?B?SsO2cmc=?= <joerg@example.test>\n=?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>\n"
    "alice+tag@Example.TEST\n\"a b\"@[IPv6:2001:db8::1]\n<@a.test,@b.test:c@d.test>\nuser+2Bx+3Dy@example.test\n"
    "j\u00f6rg@b\u00fccher.example\nPete(A nice \\) chap) <pete(his account)@silly.test(his host)>\n")

plain = crlf("""Received: from a.example.test by b.example.test; Mon, 7 Dec 2026 05:00:00 +0000
From: =?UTF-8?Q?J=C3=B6rg?= <joerg@example.test>
To: Bob <bob@example.test>, team: a@x.test;
Subject: 8-bit body
Date: Mon, 7 Dec 2026 05:00:00 +0000
Message-ID: <1@example.test>
MIME-Version: 1.0
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: 8bit

Gr\u00fc\u00dfe aus M\u00fcnchen
""")
add("mime", plain)
alternative = crlf("""From: a@example.test
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

preamble
--outer
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

caf=C3=A9 and a long line that is soft=
 broken
--inner
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: 8bit

<p>caf\u00e9</p>
--inner--
--outer
Content-Type: message/rfc822

From: inner@example.test
Subject: =?ISO-8859-1?B?SGFsbG8=?=
Content-Type: text/plain; charset=iso-8859-1; format=flowed

inner \u00e9
--outer
Content-Type: application/octet-stream; name*0*=utf-8''a%20b; name*1=".bin"
Content-Disposition: attachment; filename="a b.bin"
Content-Transfer-Encoding: base64

AAECAwQFBgcICQ==
--outer--
epilogue
""")
add("mime", alternative)
add("mime", "Subject: lf only\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n--b--\n")


def name(labels):
    out = b""
    for label in labels.split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def dns(qname, qtype, answers):
    header = struct.pack(">HHHHHH", 0x1234, 0x8180, 1, len(answers), 0, 0)
    question = name(qname) + struct.pack(">HH", qtype, 1)
    body = b""
    for owner, rtype, rdata in answers:
        body += owner + struct.pack(">HHIH", rtype, 1, 300, len(rdata)) + rdata
    return header + question + body


pointer = b"\xc0\x0c"  # the question's name
add("dns", dns("example.test", 15, [(pointer, 15, struct.pack(">H", 10) + name("mx1.example.test")),
                                    (pointer, 15, struct.pack(">H", 20) + b"\x03mx2\xc0\x0c")]))
add("dns", dns("mx1.example.test", 1, [(pointer, 5, name("host.example.test")), (pointer, 1, bytes([192, 0, 2, 1]))]))
add("dns", dns("mx1.example.test", 28, [(pointer, 28, bytes.fromhex("20010db8000000000000000000000001"))]))
add("dns", dns("1.2.0.192.in-addr.arpa", 12, [(pointer, 12, name("mail.example.test"))]))
add("dns", dns("example.test", 15, [(pointer, 15, struct.pack(">H", 0) + b"\x00")]))

add("dns", dns("example.test", 16, [(pointer, 16, b"\x0ev=spf1 ip4:192" + b"\x0f.0.2.0/24 -all")]))

# SPF: a.test's record first, then b.test's, c.test's, ... (AuthenticationTargets.spf).
add("spf", "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all")
add("spf", "v=spf1 include:b.test redirect=c.test exp=d.test\nv=spf1 a mx/24//64 ptr:a.test ~all\n"
    "v=spf1 exists:%{ir}.%{v}.%{l1r-}.%{d2}.b.test ?all\n%{c} is not %{r} at %{t}: %{S}")
add("spf", "v=spf1 include:a.test a:void1.test a:void2.test a:void3.test -all\nv=spf1 redirect=a.test")
add("spf", "v=spf1 exists:%{p}.%{H}.%{o5r+-=}.a.test -all exp=%{d}\n~jack&jill=up@a.test")
add("spf", "Authentication-Results: (c) MX.Aviary.test 1; spf=pass\r\nSubject: x\r\n\r\nbody\r\n")

# DMARC: the record at _dmarc.example.test, then the header section (AuthenticationTargets.dmarc).
add("dmarc", "v=DMARC1; p=reject; sp=quarantine; adkim=s; aspf=r; pct=50; rua=mailto:a@example.test!10m,mailto:b@x.test\n"
    "From: Alice <alice@news.example.test>\r\nSubject: x\r\n\r\n")
add("dmarc", "v=DMARC1; p=bogus; rua=mailto:r@example.test; fo=1:d; rf=afrf; ri=3600; np=reject\n"
    "From: a@example.test, b@EXAMPLE.test\r\nFrom: c@other.test\r\n\r\n")
add("dmarc", "v=DMARC1; p=none\nFrom: \"Smith, A\" <a@b\u00fccher.example.co.uk>\r\n\r\n*.kobe.jp\n!city.kobe.jp\n"
    "\u98df\u72ee.\u516c\u53f8.cn\n// ===BEGIN PRIVATE DOMAINS===\nwww.city.kobe.jp\n")

# DKIM: a message dkimpy signed with the Ed25519 key AuthenticationTargets.dkim publishes (seed bytes 0x01 * 32).
add("dkim", b"DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.com;\r\n i=@example.com; "
    b"q=dns/txt; s=ed; t=1796680005; h=from : to : subject :\r\n from; "
    b"bh=lGP7WgYuC2BfNW+3tXtZjgpRyTmfyliAJh62YXMvN6E=;\r\n "
    b"b=5wwQeywgVx8s7oMB2Mr47zuFbgtGod/jc9k+KZSe/icLBko0gl4+/ot207WqgNKzG8xBu\r\n tHs9XNzTFq1akIwCQ==\r\n"
    b"From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: fuzz seed\r\n\r\nHello  Bob, \r\n\r\n")
add("dkim", "DKIM-Signature: v=1; a=rsa-sha256; c=simple/simple; d=example.com; s=rsa; l=5; h=From:To;\r\n"
    " bh=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=; b=AAAA\r\nFrom: a@example.com\r\n\r\n \t x \r\n\r\n")

for target, inputs in seeds.items():
    directory = os.path.join(CORPUS, target)
    os.makedirs(directory, exist_ok=True)
    for old in os.listdir(directory):
        if old.startswith("seed-"):
            os.remove(os.path.join(directory, old))
    for index, data in enumerate(inputs, 1):
        with open(os.path.join(directory, "seed-%02d.bin" % index), "wb") as f:
            f.write(data)
print(" ".join("%s:%d" % (t, len(i)) for t, i in sorted(seeds.items())), file=sys.stderr)
