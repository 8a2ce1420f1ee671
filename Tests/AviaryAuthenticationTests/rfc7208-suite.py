#!/usr/bin/python3
"""Prints the RFC 7208 test suite (openspf.org, release 2014.04, as Debian's python3-spf ships it) as JSON, with
what pyspf, an independent implementation, says about every case under the same fake DNS.

    rfc7208-suite.py [SUITE.yml[.gz]]

Output: {"scenarios": [{"description", "zone": {name: [[type, value], ...]}, "tests": [{"id", "helo", "host",
"mailfrom", "results": [...], "explanation", "pyspf": [result, explanation]}]}]}. The zone follows the suite's
conventions as its own driver (testspf.py) reads them: SPF-type records stand in for TXT records of the same
name unless the name has TXT records of its own; a value NONE means "no such record"; TIMEOUT, as a whole entry
or as a value, makes the look-up fail (an entry only when no record of the asked type comes before it); a name starting with "error." that is not in the zone fails too. Values:
TXT is a list of strings, MX is [preference, host], A/AAAA/PTR/CNAME are text.
"""
import gzip
import json
import socket
import sys

import spf
import yaml

SUITE = "/usr/share/doc/python3-spf/rfc7208-tests.yml.gz"


def zone_entries(name, items):
    """The suite's zone entries for one name as (type, value) pairs, SPF records copied to TXT."""
    entries, generated, has_txt = [], [], False
    for item in items:
        if not isinstance(item, dict):
            entries.append(["TIMEOUT", None])
            continue
        for kind, value in item.items():
            if kind in ("TXT", "SPF") and isinstance(value, str):
                value = [value]
            if kind == "TXT":
                has_txt = True
            elif kind == "SPF" and not has_txt:
                generated.append(value)
            if kind == "SPF" or value == ["NONE"]:
                continue
            entries.append([kind, "TIMEOUT" if value == "TIMEOUT" else value])
    if not has_txt:
        entries += [["TXT", value] for value in generated if value != ["NONE"]]
    return entries


def fake_lookup(zone):
    """pyspf's DNS hook answering from `zone` (testspf.py's semantics)."""

    def lookup(name, qtype, strict=True, timeout=None, level=0):
        labels = [label for label in name.split(".") if label]
        if any(len(label) > 63 for label in labels):
            raise spf.TempError("DNS label too long")
        name = ".".join(labels).lower()
        if name not in zone:
            if name.startswith("error."):
                raise spf.TempError("DNS timeout")
            return
        answered = False
        for kind, value in zone[name]:
            if kind == "TIMEOUT":
                if answered:
                    return
                raise spf.TempError("DNS timeout")
            answered = answered or kind == qtype
            if value == "TIMEOUT":
                if kind == qtype:
                    raise spf.TempError("DNS timeout")
                continue
            if kind == "AAAA":
                value = bytes(socket.inet_pton(socket.AF_INET6, value))
            elif kind == "TXT":
                value = tuple(part.encode("utf-8") for part in value)
            elif kind == "MX":
                value = tuple(value)
            yield ((name, kind), value)
            if not level and kind == "CNAME":
                yield from lookup(value, qtype, strict, timeout, 1)

    return lookup


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else SUITE
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as stream:
        documents = list(yaml.safe_load_all(stream))
    scenarios = []
    for document in documents:
        zone = {name.lower().rstrip("."): zone_entries(name, items) for name, items in document["zonedata"].items()}
        spf.DNSLookup = fake_lookup(zone)
        tests = []
        for test_id, case in sorted(document["tests"].items()):
            results = case["result"] if isinstance(case["result"], list) else [case["result"]]
            query = spf.query(i=case["host"], s=case["mailfrom"], h=case["helo"], strict=case.get("strict", True))
            query.set_default_explanation("DEFAULT")
            result, _, explanation = query.check()
            result = {"unknown": "permerror", "error": "temperror"}.get(result, result)
            tests.append({
                "id": test_id, "helo": case["helo"], "host": case["host"], "mailfrom": case["mailfrom"],
                "results": results, "explanation": case.get("explanation"), "spec": str(case.get("spec", "")),
                "pyspf": [result, explanation if result == "fail" else None],
            })
        scenarios.append({"description": document["description"], "zone": zone, "tests": tests})
    json.dump({"scenarios": scenarios}, sys.stdout, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
