#!/usr/bin/python3
"""Signs test messages with dkimpy (Debian's python3-dkim; Ed25519 through python3-nacl), an independent DKIM
implementation, for DKIMVerifierTests, and checks each signature with dkimpy itself.

    dkim-sign.py DIRECTORY

Makes an RSA key (openssl genpkey) and an Ed25519 key in DIRECTORY and prints {"keys": {name: TXT record},
"messages": {case: base64 of the signed message}}. Keys live at rsa._domainkey.example.com,
ed._domainkey.example.com and short._domainkey.example.com (a 512-bit RSA key, which verifies nothing).
"""
import base64
import json
import subprocess
import sys

import dkim
import nacl.signing

MESSAGE = (b"From: Alice <alice@example.com>\r\n"
           b"To: bob@example.org\r\n"
           b"Subject:  a  folded\r\n\tsubject \r\n"
           b"Date: Mon, 7 Dec 2026 21:00:00 +0000\r\n"
           b"Message-ID: <1@example.com>\r\n"
           b"\r\n"
           b"Hello  Bob, \r\n"
           b"\r\n"
           b"trailing white space\t \r\n"
           b"\r\n\r\n")


def rsa_key(directory, bits):
    path = "%s/rsa%d.pem" % (directory, bits)
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:%d" % bits, "-out", path],
                   check=True, capture_output=True)
    public = subprocess.run(["openssl", "pkey", "-in", path, "-pubout", "-outform", "DER"], check=True,
                            capture_output=True).stdout
    return open(path, "rb").read(), "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode()


def main():
    directory = sys.argv[1]
    rsa_private, rsa_record = rsa_key(directory, 2048)
    short_private, short_record = rsa_key(directory, 512)
    ed = nacl.signing.SigningKey.generate()
    ed_private = base64.b64encode(bytes(ed))
    ed_record = "v=DKIM1; k=ed25519; p=" + base64.b64encode(bytes(ed.verify_key)).decode()
    keys = {"rsa._domainkey.example.com": rsa_record, "ed._domainkey.example.com": ed_record,
            "short._domainkey.example.com": short_record}

    def sign(message, selector=b"rsa", key=rsa_private, **options):
        return dkim.sign(message, selector, b"example.com", key, **options) + message

    cases = {
        "rsa-relaxed-relaxed": sign(MESSAGE, canonicalize=(b"relaxed", b"relaxed")),
        "rsa-simple-simple": sign(MESSAGE, canonicalize=(b"simple", b"simple")),
        "rsa-relaxed-simple-length": sign(MESSAGE, canonicalize=(b"relaxed", b"simple"), length=True),
        "rsa-identity": sign(MESSAGE, identity=b"alice@mail.example.com"),
        "rsa-oversigned-from": sign(MESSAGE, include_headers=[b"from", b"from", b"subject", b"to"]),
        "ed25519-relaxed-relaxed": sign(MESSAGE, selector=b"ed", key=ed_private, canonicalize=(b"relaxed", b"relaxed"),
                                        signature_algorithm=b"ed25519-sha256"),
        "empty-body": sign(MESSAGE.split(b"\r\n\r\n")[0] + b"\r\n\r\n", canonicalize=(b"relaxed", b"relaxed")),
        "short-key": sign(MESSAGE, selector=b"short", key=short_private),
    }
    cases["two-signatures"] = sign(cases["ed25519-relaxed-relaxed"], canonicalize=(b"simple", b"relaxed"))

    def txt(name, timeout=5):
        record = keys.get(name.decode().rstrip("."))
        return record.encode() if record else None

    for name, message in cases.items():
        verifier = dkim.DKIM(message)
        results = [verifier.verify(idx=index, dnsfunc=txt) for index in range(len(verifier.present_signatures()))
                   ] if hasattr(verifier, "present_signatures") else [dkim.verify(message, dnsfunc=txt)]
        expected = name != "short-key"
        if all(results) != expected:
            sys.exit("dkimpy does not verify its own %s the way the test expects: %s" % (name, results))
    json.dump({"keys": keys, "messages": {name: base64.b64encode(m).decode() for name, m in cases.items()}}, sys.stdout)


if __name__ == "__main__":
    main()
