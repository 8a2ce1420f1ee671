#!/usr/bin/python3
"""A milter that accepts connections, reads what it is sent, and never answers.

    stalled_milter.py SOCKET_PATH

Prints `ready` once listening; logs `connect` per connection to stdout. Runs until killed.
"""

import os
import socket
import sys
import threading


def drain(connection):
    with connection:
        while connection.recv(65536):
            pass


def main():
    path = sys.argv[1]
    if os.path.exists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    os.chmod(path, 0o777)
    server.listen(16)
    print("ready", flush=True)
    while True:
        connection, _ = server.accept()
        print("connect", flush=True)
        threading.Thread(target=drain, args=(connection,), daemon=True).start()


if __name__ == "__main__":
    main()
