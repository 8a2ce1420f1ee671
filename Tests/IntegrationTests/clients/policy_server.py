#!/usr/bin/env python3
"""A small Postfix policy server (SMTPD_POLICY_README's protocol) that behaves well or badly, for smtpd's tests.

Usage: policy_server.py MODE SOCKET LOG [RELEASE]
       policy_server.py spawn SOCKET LOG DNS_PORT COMMAND [ARGUMENT ...]

Listens on the Unix socket SOCKET (prints "ready" once listening) and serves each connection in a thread,
request after request:
  dunno     answers action=DUNNO; a request for a recipient starting with "held@" is answered only once the
            file RELEASE exists (at most 60 s), so a test can keep one session waiting
  garbage   answers a line that is no name=value attribute
  overlong  answers an action of 10000 bytes
  stall     never answers (holds the connection until smtpd gives up, at most 60 s)
  close     closes the connection without answering
  spawn     Postfix's spawn(8): runs COMMAND (Debian's policyd-spf) once per connection, its standard input and
            output being the connection. Its Python finds the test's DNS server (dnsmasq on 127.0.0.1:DNS_PORT)
            through a sitecustomize module that configures dnspython's default resolver: /etc/resolv.conf cannot
            name a port, and the program itself runs unchanged.
LOG gets one line per event: "connect N" for the Nth connection, "request STATE RECIPIENT" for each request,
"disconnect N" when the client closes connection N between requests.
The server exits after 300 s in any case.
"""
import os
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

mode, path, log_path = sys.argv[1], sys.argv[2], sys.argv[3]
release = sys.argv[4] if len(sys.argv) > 4 and mode != "spawn" else None
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


def spawn_environment(dns_port):
    """The environment of a spawned program: PYTHONPATH names a sitecustomize that points dnspython at dnsmasq."""
    site = tempfile.mkdtemp(prefix="policy-spawn-")
    with open(os.path.join(site, "sitecustomize.py"), "w") as module:
        module.write(
            "import dns.resolver\n"
            "resolver = dns.resolver.Resolver(configure=False)\n"
            "resolver.nameservers = ['127.0.0.1']\n"
            "resolver.port = %d\n"
            "resolver.lifetime = 5\n"
            "dns.resolver.default_resolver = resolver\n" % dns_port
        )
    return dict(os.environ, PYTHONPATH=site)


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        if mode == "spawn":
            log("spawn")
            descriptor = self.connection.fileno()
            subprocess.run(sys.argv[5:], stdin=descriptor, stdout=descriptor, env=environment, timeout=120)
            return
        global connections
        with lock:
            connections += 1
            number = connections
        log("connect %d" % number)
        while True:
            request = read_request(self.rfile)
            if request is None:
                log("disconnect %d" % number)
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


environment = spawn_environment(int(sys.argv[4])) if mode == "spawn" else None
if os.path.exists(path):
    os.unlink(path)
server = Server(path, Handler)
os.chmod(path, 0o666)
threading.Thread(target=server.serve_forever, daemon=True).start()
print("ready", flush=True)
time.sleep(300)
