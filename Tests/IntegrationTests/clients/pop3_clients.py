#!/usr/bin/env python3
"""POP3 clients against pop3d, printing one JSON object.

Usage:
  pop3_clients.py poplib HOST PORT USER PASS        poplib: CAPA, USER before STLS (must fail), stls(),
                                                    login, STAT, UIDL, RETR 1 (bytes as hex)
  pop3_clients.py getmail HOST PORT USER PASS DIR [RETRIEVER]
                                                    getmail6 over pop3s (or RETRIEVER, e.g.
                                                    SimpleIMAPSSLRetriever) into the Maildir DIR (keeps mail)
  pop3_clients.py session HOST PORT USER PASS OUT [plain]
                                                    poplib over STLS (plain: without TLS, from HOST itself):
                                                    login, STAT, RETR 1 (raw bytes with CR LF to OUT), then
                                                    creates OUT.held and waits (60 s at most) for OUT.go
                                                    before DELE 1 and QUIT
"""
import json
import os
import poplib
import socket
import ssl
import subprocess
import sys


def context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class RemotePOP3(poplib.POP3):
    """A client on 127.0.0.2: not at the server's own address, so plaintext logins are refused there."""

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=("127.0.0.2", 0))


def with_poplib(host, port, user, password):
    result = {}
    # A client on the server's own address may log in without TLS (the telnet lab), as in Dovecot.
    local = poplib.POP3(host, port, timeout=20)
    try:
        local.user(user)
        local.pass_(password)
        result["login_from_this_host"] = "accepted"
    except poplib.error_proto as error:
        result["login_from_this_host"] = error.args[0].decode("latin-1")
    local.quit()
    client = RemotePOP3(host, port, timeout=20)
    result["capa_plain"] = sorted(client.capa().keys())
    try:
        client.user(user)
        result["user_before_tls"] = "accepted"
    except poplib.error_proto as error:
        result["user_before_tls"] = error.args[0].decode("latin-1")
    client.stls(context=context())
    result["capa_tls"] = sorted(client.capa().keys())
    client.user(user)
    client.pass_(password)
    result["stat"] = list(client.stat())
    result["uidl"] = [line.decode() for line in client.uidl()[1]]
    response, lines, octets = client.retr(1)
    result["retr_octets"] = octets
    client.quit()
    print(json.dumps(result))


def with_getmail(host, port, user, password, directory, retriever="SimplePOP3SSLRetriever"):
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(directory, "maildir", sub), exist_ok=True)
    destination_user = ""
    if os.geteuid() == 0:
        # getmail refuses to deliver as root: it delivers as nobody, who gets the Maildir.
        import pwd
        nobody = pwd.getpwnam("nobody")
        for root, dirs, files in os.walk(directory):
            os.chown(root, nobody.pw_uid, nobody.pw_gid)
        destination_user = "user = nobody\n"
    rc = os.path.join(directory, "getmailrc")
    with open(rc, "w") as f:
        f.write(
            # timeout: getmail's own socket timeout (default 180 s) comes before the 120 s kill below, so a
            # stall is reported by getmail, with what it was waiting for.
            "[retriever]\ntype = %s\nserver = %s\nport = %s\nusername = %s\npassword = %s\n"
            "timeout = 60\n"
            "[destination]\ntype = Maildir\npath = %s/\n%s[options]\ndelete = false\nread_all = true\n"
            "received = false\ndelivered_to = false\nmessage_log_syslog = false\nverbose = 1\n"
            % (retriever, host, port, user, password, os.path.join(directory, "maildir"), destination_user)
        )
    try:
        run = subprocess.run(
            ["getmail", "--getmaildir", directory, "--rcfile", rc], capture_output=True, text=True, timeout=120
        )
        status, output, errors = run.returncode, run.stdout, run.stderr
    except subprocess.TimeoutExpired as expired:
        # Say how far it got (it failed once this way, unexplained): files so far and its last words.
        def text(value):
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else (value or "")
        status, output, errors = "timeout after 120 s", text(expired.stdout), text(expired.stderr)
    names = sorted(os.listdir(os.path.join(directory, "maildir", "new")))
    print(json.dumps({"status": status, "stdout": output[-1000:], "stderr": errors[-2000:], "files": len(names)}))


class POP3FromHost(poplib.POP3):
    """poplib connecting from the server's own address (a loopback client whose remote is its local address)."""

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=(self.host, 0))


def held_session(host, port, user, password, out, plain=False):
    import time
    result = {}
    if plain:
        client = POP3FromHost(host, port, timeout=30)
    else:
        client = poplib.POP3(host, port, timeout=30)
        client.stls(context=context())
    client.user(user)
    result["login"] = client.pass_(password).decode("latin-1")
    result["stat"] = list(client.stat())
    response, lines, octets = client.retr(1)
    result["retr_octets"] = octets
    with open(out, "wb") as f:
        f.write(b"".join(line + b"\r\n" for line in lines))
    open(out + ".held", "w").close()
    for _ in range(600):
        if os.path.exists(out + ".go"):
            break
        time.sleep(0.1)
    result["dele"] = client.dele(1).decode("latin-1")
    result["quit"] = client.quit().decode("latin-1")
    print(json.dumps(result))


if __name__ == "__main__":
    kind = sys.argv[1]
    if kind == "poplib":
        with_poplib(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    elif kind == "session":
        held_session(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7:8] == ["plain"])
    else:
        with_getmail(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6], *sys.argv[7:8])
