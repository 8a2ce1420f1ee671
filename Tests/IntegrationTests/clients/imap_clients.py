#!/usr/bin/env python3
"""IMAP clients for the integration tests, driving imapd as real programs do.

Usage:
  imap_clients.py starttls HOST PORT USER PASSWORD       imaplib over STARTTLS: capabilities before and after
                                                          TLS, LOGIN refused before it, then a reader's session
  imap_clients.py imaps HOST PORT USER PASSWORD          imaplib over TLS on connect: fetch every body
  imap_clients.py imapclient HOST PORT USER PASSWORD     imapclient (PyPI) over imaps: folders, APPEND with
                                                          flags, MOVE, SEARCH, UIDPLUS
  imap_clients.py injection HOST PORT USER PASSWORD      STARTTLS with a LOGIN pipelined behind it in plaintext:
                                                          lists every line the server sent after the TLS handshake
  imap_clients.py idle HOST PORT USER PASSWORD SMTP_PORT IDLE, then send a message through smtpd on SMTP_PORT
                                                          and wait (at most 20 s) for the EXISTS that reports it
  imap_clients.py held HOST PORT USER PASSWORD OUT       imaplib in plaintext from HOST itself: LOGIN, SELECT,
                                                          every body, APPEND (synchronizing literal); then creates
                                                          OUT.held and waits (60 s at most) for OUT.go to LOGOUT
  imap_clients.py compress HOST PORT USER PASSWORD TLS   COMPRESS=DEFLATE (RFC 4978) by hand over imaplib, with
                                                          STARTTLS first when TLS is "tls", else in plaintext from
                                                          HOST itself: an unknown mechanism, DEFLATE, SELECT, every
                                                          body, IDLE, APPEND, a second COMPRESS, LOGOUT
  imap_clients.py condstore HOST PORT USER PASSWORD      imapclient over imaps, three sessions: CONDSTORE (MODSEQ,
                                                          CHANGEDSINCE, UNCHANGEDSINCE) and QRESYNC (VANISHED)
  imap_clients.py storestorm HOST PORT USER PASSWORD OUT imapclient over imaps: STORE after STORE with CONDSTORE,
                                                          each answer's UID, flags and MODSEQ a line in OUT, until
                                                          the connection breaks (the test kills imapd meanwhile)
  imap_clients.py extensions HOST PORT USER PASSWORD     over imaps: imapclient's multiappend() (MULTIAPPEND) and
                                                          folder_status() with SIZE (STATUS=SIZE); imaplib's
                                                          FETCH BINARY.PEEK[2] and BINARY.SIZE[2] of the message with
                                                          the subject "with an attachment", and
                                                          ENABLE UTF8=ACCEPT with CREATE, LIST, STATUS in UTF-8
Prints one JSON object.
"""
import imaplib
import json
import os
import smtplib
import socket
import ssl
import sys
import time
import zlib


def context():
    tls = ssl.create_default_context()
    tls.check_hostname = False
    tls.verify_mode = ssl.CERT_NONE
    return tls


def starttls(host, port, user, password):
    out = {}
    m = imaplib.IMAP4(host, port, timeout=30)
    out["capability_plain"] = list(m.capabilities)
    try:
        m.login(user, password)
        out["login_before_tls"] = "accepted"
    except imaplib.IMAP4.error as error:
        out["login_before_tls"] = str(error)
    m.starttls(ssl_context=context())
    out["capability_tls"] = list(m.capabilities)
    out["login"] = m.login(user, password)[0]
    out["select"] = int(m.select("INBOX")[1][0])
    typ, data = m.uid("SEARCH", None, "ALL")
    uids = data[0].split()
    out["uids"] = [int(u) for u in uids]
    bodies = []
    for uid in uids:
        typ, data = m.uid("FETCH", uid, "(BODY.PEEK[] RFC822.SIZE)")
        bodies.append(data[0][1].decode("utf-8", "replace"))
    out["bodies"] = bodies
    typ, data = m.fetch("1:*", "(FLAGS ENVELOPE BODYSTRUCTURE)")
    out["structures"] = [d.decode("utf-8", "replace") for d in data if isinstance(d, bytes)]
    out["list"] = [line.decode() for line in m.list()[1]]
    # imaplib sends a synchronizing literal: it waits for the server's "+" before the message.
    typ, data = m.append("INBOX", "(\\Seen)", None, b"Subject: appended\r\n\r\nby imaplib\r\n")
    out["append"] = "%s %s" % (typ, data[0].decode())
    m.logout()
    return out


class IMAP4FromHost(imaplib.IMAP4):
    """imaplib connecting from the server's own address (a loopback client whose remote is its local address)."""

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=(self.host, 0))


def held(host, port, user, password, out_path):
    out = {}
    m = IMAP4FromHost(host, port, timeout=30)
    out["login"] = m.login(user, password)[0]
    out["capability"] = list(m.capabilities)
    out["select"] = int(m.select("INBOX")[1][0])
    typ, data = m.uid("SEARCH", None, "ALL")
    out["uids"] = [int(u) for u in data[0].split()]
    typ, data = m.fetch("1:*", "(BODY.PEEK[])")
    out["bodies"] = [d[1].decode("utf-8", "replace") for d in data if isinstance(d, tuple)]
    typ, data = m.append("INBOX", "(\\Seen)", None, b"Subject: appended\r\n\r\nby imaplib\r\n")
    out["append"] = "%s %s" % (typ, data[0].decode())
    open(out_path + ".held", "w").close()
    for _ in range(600):
        if os.path.exists(out_path + ".go"):
            break
        time.sleep(0.1)
    out["logout"] = m.logout()[0]
    return out


class Compressing:
    """COMPRESS=DEFLATE for imaplib, which has none: after the tagged OK every byte each way is raw DEFLATE
    (wbits -15), and every command goes out with a sync flush as RFC 4978 asks of both sides."""

    compressed = False

    def compress(self):
        typ, data = self._simple_command("COMPRESS", "DEFLATE")
        if typ != "OK":
            # imaplib raises for BAD only; a NO leaves the streams as they were.
            raise imaplib.IMAP4.error("COMPRESS: %s %s" % (typ, data[0].decode()))
        # The server sent nothing after its OK, so imaplib's buffered reader holds nothing compressed.
        self.deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.inflater = zlib.decompressobj(-15)
        self.plaintext = b""
        self.compressed = True
        return typ, data

    def send(self, data):
        if not self.compressed:
            return super().send(data)
        self.sock.sendall(self.deflater.compress(data) + self.deflater.flush(zlib.Z_SYNC_FLUSH))

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise imaplib.IMAP4.abort("connection closed")
        self.plaintext += self.inflater.decompress(chunk)

    def read(self, size):
        if not self.compressed:
            return super().read(size)
        while len(self.plaintext) < size:
            self._fill()
        data, self.plaintext = self.plaintext[:size], self.plaintext[size:]
        return data

    def readline(self):
        if not self.compressed:
            return super().readline()
        while b"\n" not in self.plaintext:
            self._fill()
        end = self.plaintext.index(b"\n") + 1
        line, self.plaintext = self.plaintext[:end], self.plaintext[end:]
        return line


imaplib.Commands.setdefault("COMPRESS", ("AUTH", "SELECTED"))


class CompressingIMAP4(Compressing, imaplib.IMAP4):
    pass


class CompressingIMAP4FromHost(Compressing, IMAP4FromHost):
    pass


def compress(host, port, user, password, tls):
    out = {}
    if tls == "tls":
        m = CompressingIMAP4(host, port, timeout=30)
        m.starttls(ssl_context=context())
    else:
        m = CompressingIMAP4FromHost(host, port, timeout=30)
    out["login"] = m.login(user, password)[0]
    out["capability"] = m.capability()[1][0].decode().split()
    try:
        m._simple_command("COMPRESS", "LZW")
        out["unknown"] = "accepted"
    except imaplib.IMAP4.error as error:
        out["unknown"] = str(error)
    typ, data = m.compress()
    out["compress"] = "%s %s" % (typ, data[0].decode())
    out["select"] = int(m.select("INBOX")[1][0])
    typ, data = m.uid("SEARCH", None, "ALL")
    out["uids"] = [int(u) for u in data[0].split()]
    typ, data = m.fetch("1:*", "(BODY.PEEK[])")
    out["bodies"] = [d[1].decode("utf-8", "replace") for d in data if isinstance(d, tuple)]
    # IDLE (imaplib 3.11 has none): the continuation and the tagged answer each come in a batch of their own.
    m.send(b"i1 IDLE\r\n")
    out["idle"] = m.readline().decode().strip()
    m.send(b"DONE\r\n")
    out["done"] = m.readline().decode().strip()
    typ, data = m.append("INBOX", "(\\Seen)", None, b"Subject: appended compressed\r\n\r\n" + b"x" * 100000 + b"\r\n")
    out["append"] = "%s %s" % (typ, data[0].decode())
    typ, data = m.fetch("1:*", "(RFC822.SIZE)")
    out["sizes"] = [d.decode() for d in data if isinstance(d, bytes)]
    try:
        m.compress()
        out["again"] = "accepted"
    except imaplib.IMAP4.error as error:
        out["again"] = str(error)
    out["logout"] = m.logout()[0]
    return out


def imaps(host, port, user, password):
    out = {}
    m = imaplib.IMAP4_SSL(host, port, ssl_context=context(), timeout=30)
    out["capability"] = list(m.capabilities)
    out["login"] = m.login(user, password)[0]
    out["select"] = int(m.select("INBOX")[1][0])
    typ, data = m.fetch("1:*", "(BODY[])")
    out["bodies"] = [d[1].decode("utf-8", "replace") for d in data if isinstance(d, tuple)]
    typ, data = m.fetch("1:*", "(FLAGS)")
    out["flags"] = [d.decode() for d in data]
    m.logout()
    return out


def with_imapclient(host, port, user, password):
    import imapclient
    out = {}
    client = imapclient.IMAPClient(host, port=port, ssl=True, ssl_context=context(), timeout=30)
    client.login(user, password)
    out["capabilities"] = sorted(c.decode() for c in client.capabilities())
    out["folders"] = [[sorted(f.decode() if isinstance(f, bytes) else str(f) for f in flags), name]
                      for flags, delimiter, name in client.list_folders()]
    out["special"] = {str(k): v for k, v in (
        (name, [f.decode() for f in flags if f.decode() in ("\\Sent", "\\Trash")]) for flags, _, name in client.list_folders())
        if v}
    client.create_folder("Reports")
    result = client.append("Reports", b"Subject: quarterly report\r\n\r\nnumbers\r\n", flags=[b"\\Flagged", b"$Label1"])
    out["append"] = result.decode() if isinstance(result, bytes) else str(result)
    client.select_folder("Reports")
    out["search"] = client.search(["SUBJECT", "quarterly", "FLAGGED"])
    out["flags"] = {str(k): sorted(f.decode() for f in v) for k, v in client.get_flags(out["search"]).items()}
    client.move(out["search"], "Archive")
    out["after_move"] = client.folder_status("Archive", ["MESSAGES"])[b"MESSAGES"]
    out["reports_left"] = client.folder_status("Reports", ["MESSAGES"])[b"MESSAGES"]
    client.logout()
    return out


def extensions(host, port, user, password):
    import imapclient
    out = {}
    client = imapclient.IMAPClient(host, port=port, ssl=True, ssl_context=context(), timeout=30)
    client.login(user, password)
    out["capabilities"] = sorted(c.decode() for c in client.capabilities())
    result = client.multiappend("INBOX", [
        {"msg": b"Subject: multi one\r\n\r\nfirst\r\n", "flags": [b"\\Seen"]},
        b"Subject: multi two\r\n\r\nsecond\r\n",
    ])
    out["multiappend"] = result.decode() if isinstance(result, bytes) else str(result)
    client.select_folder("INBOX", readonly=True)
    sizes = client.fetch("1:*", ["RFC822.SIZE"])
    out["size_sum"] = sum(data[b"RFC822.SIZE"] for data in sizes.values())
    status = client.folder_status("INBOX", ["MESSAGES", "SIZE"])
    out["status"] = {key.decode(): value for key, value in status.items()}
    client.logout()

    m = imaplib.IMAP4_SSL(host, port, ssl_context=context(), timeout=30)
    m.login(user, password)
    m.select("INBOX", readonly=True)
    typ, data = m.search(None, "SUBJECT", '"with an attachment"')
    typ, data = m.fetch(data[0].split()[0], "(BINARY.SIZE[2] BINARY.PEEK[2])")
    out["binary_line"] = data[0][0].decode("ascii", "replace")
    out["binary"] = list(data[0][1])
    out["binary_tail"] = data[1].decode("ascii", "replace") if isinstance(data[1], bytes) else str(data[1])
    m.close()  # imaplib allows ENABLE only in the authenticated state
    typ, data = m.enable("UTF8=ACCEPT")
    out["enable"] = [typ] + [d.decode() for d in data]
    out["create"] = m.create('"Entwürfe"')[0]
    typ, data = m.list('""', '"Entw*"')
    out["list"] = [d.decode("utf-8") for d in data]
    typ, data = m.status('"Entwürfe"', "(MESSAGES SIZE)")
    out["status_utf8"] = [d.decode("utf-8") for d in data]
    m.logout()
    return out


def condstore(host, port, user, password):
    import imapclient

    def connect():
        client = imapclient.IMAPClient(host, port=port, ssl=True, ssl_context=context(), timeout=30)
        client.login(user, password)
        return client

    out = {}
    a, b = connect(), connect()
    out["capabilities"] = sorted(c.decode() for c in a.capabilities())
    out["enabled"] = [c.decode() for c in a.enable("QRESYNC")]
    selected = a.select_folder("INBOX")
    out["highest"] = highest = selected[b"HIGHESTMODSEQ"]
    out["uidvalidity"] = validity = selected[b"UIDVALIDITY"]
    b.enable("CONDSTORE")
    b.select_folder("INBOX")
    out["modseqs"] = {str(uid): data[b"MODSEQ"][0] for uid, data in b.fetch("1:*", ["MODSEQ"]).items()}
    # A flag change in one session: the other's CHANGEDSINCE fetch has it, with a larger mod-sequence.
    b.add_flags([2], [b"\\Flagged"])
    changed = a.fetch("1:*", ["FLAGS"], modifiers=["CHANGEDSINCE %d" % highest])
    out["changed"] = {str(uid): [data[b"MODSEQ"][0], sorted(f.decode() for f in data[b"FLAGS"])]
                      for uid, data in changed.items()}
    # A conditional STORE: message 2 changed after `highest`, message 1 did not.
    typ, data = b._imap._simple_command("UID", "STORE", "1:2", "(UNCHANGEDSINCE %d)" % highest, "+FLAGS", "(\\Seen)")
    out["conditional"] = [typ, data[0].decode()]
    out["search"] = b.search(["MODSEQ", str(highest + 1)])
    # Expunges in one session reach another as VANISHED, and a QRESYNC SELECT as VANISHED (EARLIER).
    b.add_flags([1, 3], [b"\\Deleted"])
    b.expunge()
    a._imap.untagged_responses = {}
    a.noop()
    out["noop_vanished"] = [v.decode() for v in a._imap.untagged_responses.get("VANISHED", [])]
    c = connect()
    c.enable("QRESYNC")
    c._imap.untagged_responses = {}
    typ, data = c._imap._simple_command("SELECT", "INBOX", "(QRESYNC (%d %d))" % (validity, highest))
    out["qresync"] = typ
    out["vanished"] = [v.decode() for v in c._imap.untagged_responses.get("VANISHED", [])]
    out["resync_fetches"] = len(c._imap.untagged_responses.get("FETCH", []))
    out["status"] = {k.decode(): v for k, v in c.folder_status("INBOX", ["HIGHESTMODSEQ", "MESSAGES"]).items()}
    for client in (a, b, c):
        client.logout()
    return out


def storestorm(host, port, user, password, path):
    """STOREs until the server goes away; every answered one is a line `uid flags modseq` in `path`."""
    import imapclient
    client = imapclient.IMAPClient(host, port=port, ssl=True, ssl_context=context(), timeout=30)
    client.login(user, password)
    client.enable("CONDSTORE")
    client.select_folder("INBOX")
    uids = client.search(["ALL"])
    answered = 0
    error = None
    with open(path, "w") as log:
        try:
            for turn in range(100000):
                uid = uids[turn % len(uids)]
                flags = [b"\\Flagged"] if turn % 2 == 0 else [b"\\Answered"]
                result = client.set_flags([uid], flags)
                modseq = client.fetch([uid], ["MODSEQ"])[uid][b"MODSEQ"][0]
                log.write("%d %s %d\n" % (uid, flags[0].decode(), modseq))
                log.flush()
                answered += 1
        except Exception as caught:
            error = type(caught).__name__
    return {"answered": answered, "error": error}


def injection(host, port, user, password):
    raw = socket.create_connection((host, port), timeout=20)
    reader = raw.makefile("rb")
    out = {"greeting": reader.readline().decode().strip()}
    raw.sendall(("a1 STARTTLS\r\na2 LOGIN %s %s\r\n" % (user, password)).encode())
    out["starttls"] = reader.readline().decode().strip()
    tls = context().wrap_socket(raw, server_hostname=None)
    reader = tls.makefile("rb")
    tls.sendall(b"a3 CAPABILITY\r\n")
    lines = []
    for _ in range(50):
        line = reader.readline().decode().strip()
        if not line:
            break
        lines.append(line)
        if line.startswith("a3 "):
            break
    out["after_tls"] = lines
    tls.close()
    return out


def idle(host, port, user, password, smtp_port):
    out = {}
    m = imaplib.IMAP4(host, port, timeout=30)
    m.starttls(ssl_context=context())
    m.login(user, password)
    before = int(m.select("INBOX")[1][0])
    out["before"] = before
    tag = m._new_tag().decode()
    m.send(("%s IDLE\r\n" % tag).encode())
    out["continuation"] = m.readline().decode().strip()
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=20) as client:
        client.sendmail("sender@example.test", [user], b"Subject: pushed\r\n\r\nwhile idling\r\n")
    sent = time.monotonic()
    m.sock.settimeout(20)
    lines = []
    try:
        while True:
            line = m.readline().decode().strip()
            if not line:
                break
            lines.append(line)
            if line.endswith("EXISTS"):
                break
    except socket.timeout:
        pass
    out["seconds"] = round(time.monotonic() - sent, 3)
    out["lines"] = lines
    m.send(b"DONE\r\n")
    for _ in range(100):
        line = m.readline().decode().strip()
        if not line or line.startswith(tag):
            break
        lines.append(line)
    out["done"] = line
    m.logout()
    return out


def main():
    mode, host, port, user, password = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    if mode == "starttls":
        result = starttls(host, port, user, password)
    elif mode == "imaps":
        result = imaps(host, port, user, password)
    elif mode == "imapclient":
        result = with_imapclient(host, port, user, password)
    elif mode == "injection":
        result = injection(host, port, user, password)
    elif mode == "idle":
        result = idle(host, port, user, password, int(sys.argv[6]))
    elif mode == "held":
        result = held(host, port, user, password, sys.argv[6])
    elif mode == "compress":
        result = compress(host, port, user, password, sys.argv[6])
    elif mode == "condstore":
        result = condstore(host, port, user, password)
    elif mode == "extensions":
        result = extensions(host, port, user, password)
    elif mode == "storestorm":
        result = storestorm(host, port, user, password, sys.argv[6])
    else:
        raise SystemExit("unknown mode " + mode)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
