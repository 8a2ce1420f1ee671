#!/usr/bin/env python3
"""QUOTA (RFC 9208) through imaplib, for the integration tests.

Usage:
  imap_quota.py HOST PORT USER PASSWORD SIZE   imaplib in plaintext from HOST itself: CAPABILITY, GETQUOTAROOT INBOX,
                                               GETQUOTA, SETQUOTA, an APPEND of SIZE bytes, COPY 1:2 and MOVE 1 to
                                               Trash, EXPUNGE there, GETQUOTA again
Prints one JSON object: each command's answer as "TYPE data...".
"""
import imaplib
import json
import sys

from imap_clients import IMAP4FromHost


def answer(result):
    typ, data = result
    return typ + " " + " ".join(d.decode() if isinstance(d, bytes) else str(d) for d in data if d is not None)


def main():
    host, port, user, password, size = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
    out = {}
    m = IMAP4FromHost(host, port, timeout=30)
    m.login(user, password)
    out["capability"] = m.capability()[1][0].decode().split()
    typ, data = m.getquotaroot("INBOX")
    out["getquotaroot"] = [[d.decode() for d in part] for part in data]
    out["getquota"] = answer(m.getquota('"User quota"'))
    out["setquota"] = answer(m.setquota('"User quota"', "(STORAGE 100000)"))
    big = b"Subject: big\r\n\r\n" + b"x" * size + b"\r\n"
    out["append"] = answer(m.append("INBOX", None, None, big))
    m.select("INBOX")
    out["copy"] = answer(m.copy("1:2", "Trash"))
    imaplib.Commands.setdefault("MOVE", ("SELECTED",))
    out["move"] = answer(m._simple_command("MOVE", "1", "Trash"))
    m.select("Trash")
    m.store("1:*", "+FLAGS", "\\Deleted")
    out["expunge"] = answer(m.expunge())
    out["after"] = answer(m.getquota('"User quota"'))
    m.logout()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
