#!/usr/bin/env python3
"""A small Postfix policy server (SMTPD_POLICY_README's protocol) that behaves well or badly, for smtpd's tests.

Usage: policy_server.py MODE SOCKET LOG [RELEASE]

Listens on the Unix socket SOCKET (prints "ready" once listening) and serves each connection in a thread,
request after request:
  dunno     answers action=DUNNO; a request for a recipient starting with "held@" is answered only once the
            file RELEASE exists (at most 60 s), so a test can keep one session waiting
  garbage   answers a line that is no name=value attribute
  overlong  answers an action of 10000 bytes
  stall     never answers (holds the connection until smtpd gives up, at most 60 s)
  close     closes the connection without answering
LOG gets one line per event: "connect N" for the Nth connection, "request STATE RECIPIENT" for each request.
The server exits after 300 s in any case.
"""
import os
import socket
import socketserver
import sys
import threading
import time

mode, path, log_path = sys.argv[1], sys.argv[2], sys.argv[3]
release = sys.argv[4] if len(sys.argv) > 4 else None
lock = threading.Lock()
connections = 0


def log(text):
    with lock, open(log_path, "a") as log_file:
        log_file.write(text + "\n")


def read_request(stream):
    """The attributes of one request, or None when the client went away."""
    attributes = {}
    for _ in range(1000):
        line = stream.readline(4096)
        if not line:
            return None
        line = line.rstrip(b"\r\n").decode("utf-8", "replace")
        if not line:
            return attributes
        name, _, value = line.partition("=")
        attributes[name] = value
    return None


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        global connections
        with lock:
            connections += 1
            number = connections
        log("connect %d" % number)
        while True:
            request = read_request(self.rfile)
            if request is None:
                return
            log("request %s %s" % (request.get("protocol_state", ""), request.get("recipient", "")))
            if mode == "close":
                return
            if mode == "stall":
                self.connection.settimeout(60)
                try:
                    self.connection.recv(1)
                except OSError:
                    pass
                return
            if mode == "garbage":
                self.wfile.write(b"hello, this is no policy answer\n\n")
            elif mode == "overlong":
                self.wfile.write(b"action=REJECT " + b"x" * 10000 + b"\n\n")
            else:
                if request.get("recipient", "").startswith("held@") and release:
                    for _ in range(600):
                        if os.path.exists(release):
                            break
                        time.sleep(0.1)
                self.wfile.write(b"action=DUNNO\n\n")
            self.wfile.flush()


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


if os.path.exists(path):
    os.unlink(path)
server = Server(path, Handler)
os.chmod(path, 0o666)
threading.Thread(target=server.serve_forever, daemon=True).start()
print("ready", flush=True)
time.sleep(300)
