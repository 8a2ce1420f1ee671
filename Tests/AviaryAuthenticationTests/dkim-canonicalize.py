#!/usr/bin/python3
"""Canonicalizes header fields and bodies with dkimpy (Debian's python3-dkim), an independent implementation,
for DKIMCanonicalizationTests.

    dkim-canonicalize.py INPUT.json     INPUT: {"fields": [base64...], "bodies": [base64...]}

Prints {"fields": {"simple": [...], "relaxed": [...]}, "bodies": {...}}, every value base64. A field is one
whole header field with its line end, split into name and value at the first colon as dkimpy's parser does.
"""
import base64
import json
import sys

from dkim.canonicalization import Relaxed, Simple


def field(algorithm, raw):
    name, value = raw.split(b":", 1)
    [(name, value)] = algorithm.canonicalize_headers([(name, value)])
    return name + b":" + value


def main():
    with open(sys.argv[1]) as stream:
        given = json.load(stream)
    fields = [base64.b64decode(f) for f in given["fields"]]
    bodies = [base64.b64decode(b) for b in given["bodies"]]
    encode = lambda data: base64.b64encode(data).decode()
    result = {"fields": {}, "bodies": {}}
    for algorithm in (Simple, Relaxed):
        key = algorithm.name.decode()
        result["fields"][key] = [encode(field(algorithm, f)) for f in fields]
        result["bodies"][key] = [encode(algorithm.canonicalize_body(b)) for b in bodies]
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
