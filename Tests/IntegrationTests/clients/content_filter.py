#!/usr/bin/env python3
"""An after-queue content filter in the shape of Postfix's FILTER_README (amavisd-new style), for the content_filter
tests: an SMTP server that receives each message from Aviary's smtp agent, adds "X-Filtered: yes" at the top of its
header and gives it back with smtplib to the re-injection smtpd, answering only once that smtpd has answered. A
message whose text contains FILTER-REFUSE is refused at the end of DATA with 550 5.7.1 instead, one that contains
FILTER-TEMPFAIL with 451 4.7.1.

Usage: content_filter.py LISTEN_PORT REINJECT_HOST REINJECT_PORT LOG

Listens on 127.0.0.1:LISTEN_PORT (prints "ready" once listening), one thread per connection. LOG gets one line per
message: "accepted from=<S> rcpts=R1,R2 subject=SUBJECT reply=REPLY", or "refused ..." or "deferred ..." without
the reply.
Lines are at most 4096 bytes, messages at most 10 MB; the server exits after 300 s in any case.
"""
import smtplib
import socketserver
import sys
import threading
import time

listen_port, reinject_host, reinject_port, log_path = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
lock = threading.Lock()


def log(text):
    with lock, open(log_path, "a") as log_file:
        log_file.write(text + "\n")


def address(argument):
    """The address in MAIL FROM:<a> or RCPT TO:<a>, parameters dropped."""
    text = argument.split(":", 1)[1].strip() if ":" in argument else ""
    return text[1:text.index(">")] if text.startswith("<") and ">" in text else text.split(" ")[0]


def subject(message):
    for line in message.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"subject:"):
            return line[8:].strip().decode("utf-8", "replace")
    return ""


def reinject(sender, recipients, message):
    """Gives the message back to Aviary; returns the reply to send to Aviary's smtp agent."""
    try:
        with smtplib.SMTP(reinject_host, reinject_port, timeout=60) as client:
            client.ehlo("filter.example.test")
            code, text = client.mail(sender)
            if code != 250:
                return "451 4.3.0 re-injection refused the sender: %d %s" % (code, text.decode())
            for recipient in recipients:
                code, text = client.rcpt(recipient)
                if code != 250:
                    return "451 4.3.0 re-injection refused <%s>: %d %s" % (recipient, code, text.decode())
            code, text = client.data(message)
            if code != 250:
                return "451 4.3.0 re-injection refused the message: %d %s" % (code, text.decode())
            return "250 2.0.0 Ok: filtered, %s" % text.decode()
    except (OSError, smtplib.SMTPException) as error:
        return "451 4.3.0 re-injection failed: %s" % error


class Session(socketserver.StreamRequestHandler):
    timeout = 60

    def reply(self, text):
        self.wfile.write(text.encode() + b"\r\n")
        self.wfile.flush()

    def read_data(self):
        lines = []
        size = 0
        while True:
            line = self.rfile.readline(4096)
            if not line:
                return None
            if line == b".\r\n":
                return b"".join(lines)
            if line.startswith(b"."):
                line = line[1:]
            size += len(line)
            if size > 10 * 1024 * 1024:
                return None
            lines.append(line)

    def handle(self):
        self.reply("220 filter.example.test ESMTP test filter")
        sender, recipients = None, []
        for _ in range(10000):
            line = self.rfile.readline(4096)
            if not line:
                return
            command = line.rstrip(b"\r\n").decode("utf-8", "replace")
            verb = command.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.reply("250-filter.example.test\r\n250 8BITMIME")
            elif verb == "HELO":
                self.reply("250 filter.example.test")
            elif verb == "MAIL":
                sender, recipients = address(command), []
                self.reply("250 2.1.0 Ok")
            elif verb == "RCPT":
                recipients.append(address(command))
                self.reply("250 2.1.5 Ok")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                message = self.read_data()
                if message is None:
                    return
                described = "from=<%s> rcpts=%s subject=%s" % (sender, ",".join(recipients), subject(message))
                if b"FILTER-REFUSE" in message:
                    log("refused " + described)
                    self.reply("550 5.7.1 Message content rejected by the test filter")
                elif b"FILTER-TEMPFAIL" in message:
                    log("deferred " + described)
                    self.reply("451 4.7.1 Try again later (test filter)")
                else:
                    answer = reinject(sender, recipients, b"X-Filtered: yes\r\n" + message)
                    log("accepted %s reply=%s" % (described, answer))
                    self.reply(answer)
                sender, recipients = None, []
            elif verb == "RSET":
                sender, recipients = None, []
                self.reply("250 2.0.0 Ok")
            elif verb == "NOOP":
                self.reply("250 2.0.0 Ok")
            elif verb == "QUIT":
                self.reply("221 2.0.0 Bye")
                return
            else:
                self.reply("502 5.5.2 Command not recognised")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


server = Server(("127.0.0.1", listen_port), Session)
threading.Thread(target=server.serve_forever, daemon=True).start()
print("ready", flush=True)
time.sleep(300)
