#!/usr/bin/env python3
"""Postfix's spawn(8) for the tests: runs a stdin/stdout policy program (Debian's policyd-spf) once per
connection on a Unix socket, its standard input and output being the connection.

Usage: policy_spawn.py SOCKET DNS_PORT COMMAND [ARGUMENT ...]

The program's Python finds the test's DNS server (dnsmasq on 127.0.0.1:DNS_PORT) through a sitecustomize module
that configures dnspython's default resolver: /etc/resolv.conf cannot name a port, and the program itself is
run unchanged. Prints "ready" once listening; exits after 300 s.
"""
import os
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

path, dns_port, command = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
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
environment = dict(os.environ, PYTHONPATH=site)


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        descriptor = self.request.fileno()
        subprocess.run(command, stdin=descriptor, stdout=descriptor, env=environment, timeout=120)


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


if os.path.exists(path):
    os.unlink(path)
server = Server(path, Handler)
os.chmod(path, 0o666)
threading.Thread(target=server.serve_forever, daemon=True).start()
print("ready", flush=True)
time.sleep(300)
