#!/usr/bin/env python3
"""Parses a Prometheus text exposition with the Prometheus client library's own parser.

    prometheus_parse.py FILE

Prints one JSON object: {"types": {family: type}, "samples": {"name{label=value,...}": value}}.
Exits non-zero (with the parser's error) when the text does not parse.
"""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

with open(sys.argv[1], encoding="utf-8") as f:
    text = f.read()
types, samples = {}, {}
for family in text_string_to_metric_families(text):
    types[family.name] = family.type
    for sample in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
        samples[f"{sample.name}{{{labels}}}"] = sample.value
print(json.dumps({"types": types, "samples": samples}))
