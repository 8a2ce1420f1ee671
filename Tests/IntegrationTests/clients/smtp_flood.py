#!/usr/bin/env python3
"""Sends COUNT messages over SESSIONS threads to RECIPIENT on 127.0.0.1:PORT, one connection per message,
each with a unique Subject token, and prints one line per message: `accepted TOKEN` when the server said 250
to the end of DATA, `failed TOKEN` otherwise (refused, or the connection broke: the outcome is then unknown,
but a server must never deliver such a message twice). A broken connection is retried with the next token
after a short pause, so the flood outlives a server restart. Bounded: every socket operation times out.

usage: smtp_flood.py PORT COUNT SESSIONS RECIPIENT PREFIX
"""
import smtplib
import sys
import threading
import time

port, count, sessions, recipient, prefix = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
lock = threading.Lock()
next_index = [0]
results = []


def take():
    with lock:
        if next_index[0] >= count:
            return None
        next_index[0] += 1
        return next_index[0]


def worker():
    while True:
        index = take()
        if index is None:
            return
        token = f"{prefix}-{index:05d}"
        message = f"From: flood@example.test\r\nTo: {recipient}\r\nSubject: {token}\r\n\r\n{token}\r\n" + "x" * 1500 + "\r\n"
        outcome = "failed"
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
                client.ehlo("flood.example.test")
                client.sendmail("flood@example.test", [recipient], message)
                outcome = "accepted"
                try:
                    client.quit()
                except Exception:
                    pass
        except Exception:
            time.sleep(0.05)
        with lock:
            results.append(f"{outcome} {token}")


threads = [threading.Thread(target=worker) for _ in range(sessions)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print("\n".join(results))
