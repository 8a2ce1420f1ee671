#!/usr/bin/env python3
"""Raw SMTP transcript driver for the integration tests.

Usage: transcript.py HOST PORT [--source ADDR] < steps.json

steps.json is a JSON list of steps, run in order:
  ["send", TEXT]        send TEXT encoded as Latin-1 (so any byte 0-255 can be written as \\u00XX)
  ["read", N]           read N complete replies (a multi-line reply counts once)
  ["read_until_close"]  read replies until the server closes the connection
  ["sleep", SECONDS]
  ["wait_file", PATH]   wait until PATH exists (at most 60 seconds), so a test decides when the client goes on
  ["shutdown"]          half-close: no more bytes from the client (as nc does at the end of its input)
The greeting is read first and reported as the first reply.

Prints one JSON object: {"replies": [...], "closed": bool, "error": str|null}. Each reply is its lines joined
with "\\n", without line endings. Every read is bounded by a 20 second socket timeout.
"""
import json
import os
import socket
import sys
import time


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    source = None
    if len(sys.argv) > 4 and sys.argv[3] == "--source":
        source = sys.argv[4]
    steps = json.load(sys.stdin)
    result = {"replies": [], "closed": False, "error": None}
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(20)
    if source:
        sock.bind((source, 0))
    sock.connect((host, port))
    buffer = b""

    def read_reply():
        nonlocal buffer
        lines = []
        while True:
            while b"\n" not in buffer:
                data = sock.recv(65536)
                if not data:
                    if buffer:
                        lines.append(buffer.decode("latin-1"))
                        buffer = b""
                    return ("\n".join(lines) if lines else None)
                buffer += data
            line, buffer = buffer.split(b"\n", 1)
            text = line.rstrip(b"\r").decode("latin-1")
            lines.append(text)
            if len(text) < 4 or text[3] != "-":
                return "\n".join(lines)

    try:
        greeting = read_reply()
        if greeting is None:
            result["closed"] = True
        else:
            result["replies"].append(greeting)
        for step in steps:
            kind = step[0]
            if kind == "send":
                sock.sendall(step[1].encode("latin-1"))
            elif kind == "read":
                for _ in range(step[1]):
                    reply = read_reply()
                    if reply is None:
                        result["closed"] = True
                        break
                    result["replies"].append(reply)
                if result["closed"]:
                    break
            elif kind == "shutdown":
                sock.shutdown(socket.SHUT_WR)
            elif kind == "read_until_close":
                while True:
                    reply = read_reply()
                    if reply is None:
                        result["closed"] = True
                        break
                    result["replies"].append(reply)
                break
            elif kind == "sleep":
                time.sleep(step[1])
            elif kind == "wait_file":
                deadline = time.monotonic() + 60
                while not os.path.exists(step[1]) and time.monotonic() < deadline:
                    time.sleep(0.05)
            else:
                raise ValueError("unknown step %r" % (kind,))
    except Exception as error:  # reported to the test, which decides
        result["error"] = "%s: %s" % (type(error).__name__, error)
    finally:
        try:
            sock.close()
        except OSError:
            pass
    print(json.dumps(result))


if __name__ == "__main__":
    main()
