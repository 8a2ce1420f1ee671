#!/usr/bin/env python3
"""A server that accepts TCP connections and never says anything: a destination that is very slow.

Usage: tarpit.py HOST PORT SECONDS   (prints "ready" once listening; exits after SECONDS)
"""
import socket
import sys
import threading
import time

host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((host, port))
server.listen(64)
print("ready", flush=True)
held = []


def accept():
    while True:
        connection, _ = server.accept()
        held.append(connection)


threading.Thread(target=accept, daemon=True).start()
time.sleep(seconds)
