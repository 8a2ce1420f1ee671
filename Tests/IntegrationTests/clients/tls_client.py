#!/usr/bin/env python3
"""TLS checks against smtpd that need more than swaks: prints one JSON object.

Usage:
  tls_client.py injection PORT          STARTTLS with "MAIL FROM" pipelined behind it in plaintext; then,
                                        over TLS, EHLO and RCPT TO (which must say "need MAIL")
  tls_client.py login PORT USER PASS RCPT [--plain-first]
                                        smtplib: EHLO, [try login before TLS], starttls(), login(), send
Certificates are not verified (test certificates are self-made).
"""
import json
import smtplib
import socket
import ssl
import sys


def context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def read_reply(stream):
    lines = []
    while True:
        line = stream.readline()
        if not line:
            return lines
        lines.append(line.decode("latin-1").rstrip("\r\n"))
        if len(line) < 4 or line[3:4] != b"-":
            return lines


def injection(port):
    result = {}
    raw = socket.create_connection(("127.0.0.1", port), timeout=20)
    stream = raw.makefile("rb")
    result["greeting"] = read_reply(stream)
    raw.sendall(b"EHLO client.example.test\r\n")
    result["ehlo"] = read_reply(stream)
    raw.sendall(b"STARTTLS\r\nMAIL FROM:<injected@example.test>\r\n")
    result["starttls"] = read_reply(stream)
    tls = context().wrap_socket(raw, server_hostname="mail.example.test")
    result["version"] = tls.version()
    tstream = tls.makefile("rb")
    tls.sendall(b"EHLO client.example.test\r\n")
    result["ehlo_tls"] = read_reply(tstream)
    tls.sendall(b"RCPT TO:<alice@example.test>\r\n")
    result["rcpt"] = read_reply(tstream)
    tls.sendall(b"QUIT\r\n")
    result["quit"] = read_reply(tstream)
    print(json.dumps(result))


def login(port, user, password, recipient, plain_first):
    result = {"error": None}
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
            client.ehlo("client.example.test")
            result["features_plain"] = sorted(client.esmtp_features.keys())
            if plain_first:
                code, text = client.docmd("AUTH", "PLAIN")
                result["auth_plain"] = [code, text.decode("latin-1")]
            client.starttls(context=context())
            client.ehlo("client.example.test")
            result["features_tls"] = sorted(client.esmtp_features.keys())
            result["auth_line"] = client.esmtp_features.get("auth", "")
            client.login(user, password)
            message = "Subject: tls login test\r\n\r\nhello over TLS\r\n"
            result["refused"] = {k: list(v) for k, v in client.sendmail(user, [recipient], message).items()}
    except smtplib.SMTPException as error:
        result["error"] = "%s: %s" % (type(error).__name__, error)
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    if sys.argv[1] == "injection":
        injection(int(sys.argv[2]))
    else:
        login(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], "--plain-first" in sys.argv)
