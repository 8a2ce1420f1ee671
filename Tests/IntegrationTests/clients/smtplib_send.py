#!/usr/bin/env python3
"""Sends one message with Python's smtplib, as a mail client would.

Usage: smtplib_send.py PORT SENDER RECIPIENT[,RECIPIENT...] MESSAGE_FILE [MAIL_OPTION...]

MESSAGE_FILE holds the message as bytes (LF line endings; smtplib turns them into CR LF and dot-stuffs).
MAIL_OPTIONs go on MAIL FROM, e.g. SMTPUTF8 BODY=8BITMIME. Prints a JSON object with the EHLO
keywords the server announced and the refused recipients, or the error.
"""
import json
import smtplib
import sys


def main():
    port, sender, recipient, path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    options = sys.argv[5:]
    with open(path, "rb") as f:
        message = f.read()
    result = {"features": [], "refused": {}, "error": None}
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
            client.ehlo("client.example.test")
            result["features"] = sorted(client.esmtp_features.keys())
            refused = client.sendmail(sender, recipient.split(","), message, mail_options=options)
            result["refused"] = {k: [v[0], v[1].decode("utf-8", "replace")] for k, v in refused.items()}
    except smtplib.SMTPException as error:
        result["error"] = "%s: %s" % (type(error).__name__, error)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
