#!/usr/bin/python3
"""Verifies the DKIM signatures of the message on stdin with dkimpy (python3-dkim).

    dkim_verify.py KEY_TXT_FILE < message

The message may have CRLF or (as in a Maildir) LF line ends. KEY_TXT_FILE is the record opendkim-genkey writes (`selector._domainkey IN TXT ( "v=DKIM1; ..." )`); every key
look-up gets it, so no DNS is needed. Prints `verified d=DOMAIN` and exits 0 when a signature verifies; exits 1
otherwise (with dkimpy's reason on stderr).
"""

import re
import sys

import dkim


def main():
    with open(sys.argv[1]) as f:
        record = "".join(re.findall(r'"([^"]*)"', f.read())).encode()
    message = sys.stdin.buffer.read()
    if b"\r\n" not in message:  # a Maildir file: LF line ends
        message = message.replace(b"\n", b"\r\n")
    signatures = [line for line in message.split(b"\r\n\r\n", 1)[0].split(b"\r\n") if line.lower().startswith(b"dkim-signature:")]
    if not signatures:
        print("no DKIM-Signature field", file=sys.stderr)
        return 1
    verifier = dkim.DKIM(message)
    if not verifier.verify(dnsfunc=lambda name, timeout=5: record):
        print("signature did not verify", file=sys.stderr)
        return 1
    print("verified d=" + verifier.domain.decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
