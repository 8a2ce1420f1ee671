#!/usr/bin/env python3
"""Crash soak: mail keeps arriving while Aviary's processes are killed with SIGKILL at random moments.

A throw-away instance under a temporary directory receives mail from several clients at once: Python's
smtplib (one message per session and several per session), swaks, sendmail (through pickup) and, when
installed, Postfix's smtp-source as background load. Mail for relay.test leaves through the smtp agent for
Postfix's smtp-sink, when installed. Meanwhile, each round kills one randomly chosen process (smtpd, qmgr,
local, smtp, pickup, or master itself, which is then started again with `aviary start`).

Every message carries a token. At the end (queue flushed and drained), the script counts the tokens
delivered and checks the promise a 250 makes:
  - every message a client saw 250 for (or sendmail exit 0) is delivered exactly once;
  - a message the client did not see 250 for is delivered at most once (the server may have committed it
    just before the connection was cut);
  - the queue is empty.
For mail relayed to smtp-sink, a duplicate is counted apart: a delivery agent killed after the remote 250
and before qmgr heard of it sends the message again (RFC 1047); that is SMTP's, not the queue's, limit.

It prints the counts and exits 1 when the promise was broken, 2 when the run could not be made.
Bounded: --rounds kills, at most --time-limit seconds of load, then at most --drain seconds to drain.
"""

import argparse
import glob
import json
import os
import random
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def account_exists(name):
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


class Instance:
    def __init__(self, binaries, directory):
        self.binaries = binaries
        self.dir = directory
        self.smtp_port = free_port()
        self.sink_port = free_port()
        self.is_root = os.geteuid() == 0
        self.sink_dir = os.path.join(directory, "sink")
        self.vmail = os.path.join(directory, "vmail")

    def write(self):
        os.chmod(self.dir, 0o755)
        main = {
            "queue_directory": f"{self.dir}/spool",
            "daemon_directory": self.binaries,
            "myhostname": "mail.example.test",
            "mydestination": "localhost",
            "mynetworks": "127.0.0.0/8",
            "virtual_mailbox_domains": "example.test",
            "virtual_mailbox_maps": f"passwd-file:{self.dir}/users",
            "virtual_mailbox_base": self.vmail,
            "maillog_file": f"{self.dir}/maillog",
            "transport_maps": f"texthash:{self.dir}/transport",
            "relay_domains": "relay.test",
            # Deliveries cut short by a kill are deferred: retry them within seconds.
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            # The soak kills master on purpose; its services may be restarted quickly.
            "service_throttle_time": "1s",
        }
        if self.is_root:
            main["mail_owner"] = "aviary" if account_exists("aviary") else "nobody"
        with open(f"{self.dir}/main.cf", "w") as f:
            for name, value in main.items():
                f.write(f"{name} = {value}\n")
        with open(f"{self.dir}/master.cf", "w") as f:
            f.write(
                f"127.0.0.1:{self.smtp_port} inet n - n - - smtpd\n"
                "qmgr unix n - n 300 1 qmgr\n"
                "local unix - n n - - local\n"
                "smtp unix - - n - - smtp\n"
                "pickup unix n - n 60 1 pickup\n"
            )
        with open(f"{self.dir}/users", "w") as f:
            f.write("soak@example.test:{PLAIN}secret\n")
        os.chmod(f"{self.dir}/users", 0o644)
        with open(f"{self.dir}/transport", "w") as f:
            f.write(f"relay.test smtp:[127.0.0.1]:{self.sink_port}\n")
        os.chmod(f"{self.dir}/transport", 0o644)
        os.makedirs(self.vmail, exist_ok=True)
        os.makedirs(self.sink_dir, exist_ok=True)
        if self.is_root:
            owner = main["mail_owner"]
            shutil.chown(self.vmail, owner, owner if owner != "nobody" else "nogroup")
            subprocess.run(["groupadd", "--system", "aviarydrop"], stderr=subprocess.DEVNULL)

    def aviary(self, *arguments, timeout=60):
        return subprocess.run(
            [f"{self.binaries}/aviary", *arguments, "-c", self.dir],
            capture_output=True, text=True, timeout=timeout,
        )

    def master_pid(self):
        try:
            with open(f"{self.dir}/spool/pid/master.pid") as f:
                pid = int(f.read().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def start(self):
        result = self.aviary("start")
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.master_pid() and self.listening():
                return
            time.sleep(0.1)
        raise RuntimeError(f"aviary start did not bring master up: {result.stdout}{result.stderr}")

    def listening(self):
        try:
            with socket.create_connection(("127.0.0.1", self.smtp_port), timeout=2):
                return True
        except OSError:
            return False

    def services(self):
        """(pid, name) of master's living children."""
        master = self.master_pid()
        found = []
        if master is None:
            return found
        for stat_path in glob.glob("/proc/[0-9]*/stat"):
            try:
                with open(stat_path) as f:
                    stat = f.read()
            except OSError:
                continue
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2 :].split()
            if fields[0] != "Z" and int(fields[1]) == master:
                found.append((int(stat_path.split("/")[2]), name))
        return found

    def processes(self):
        """'PID NAME' of every process whose command line names this instance's directory."""
        found = []
        for cmdline_path in glob.glob("/proc/[0-9]*/cmdline"):
            try:
                with open(cmdline_path, "rb") as f:
                    words = f.read().split(b"\0")
            except OSError:
                continue
            if any(self.dir.encode() in word for word in words) and int(cmdline_path.split("/")[2]) != os.getpid():
                found.append(f"{cmdline_path.split('/')[2]} {words[0].decode(errors='replace')}")
        return found

    def stop(self):
        self.aviary("stop", timeout=60)
        pid = self.master_pid()
        if pid:
            os.kill(pid, signal.SIGKILL)


class Ledger:
    """Which tokens were sent and which a client saw 250 for."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sent = {}  # token -> (client, acknowledged, relayed)

    def record(self, token, client, acknowledged, relayed=False):
        with self.lock:
            self.sent[token] = (client, acknowledged, relayed)


def message(token):
    return (
        f"From: soak@example.test\r\nTo: soak@example.test\r\nSubject: soak {token}\r\n"
        f"Message-ID: <{token}@soak.example.test>\r\n\r\nToken: {token}\r\n" + "x" * 600 + "\r\n"
    )


def smtplib_client(instance, ledger, name, stop, per_session, relay_share):
    serial = 0
    while not stop.is_set():
        try:
            with smtplib.SMTP("127.0.0.1", instance.smtp_port, timeout=20) as smtp:
                smtp.ehlo("soak.example.test")
                for _ in range(per_session):
                    if stop.is_set():
                        break
                    serial += 1
                    token = f"SOAK-{name}-{serial}"
                    relayed = random.random() < relay_share
                    recipient = "sink@relay.test" if relayed else "soak@example.test"
                    ledger.record(token, name, False, relayed)
                    smtp.sendmail("sender@example.test", [recipient], message(token))
                    ledger.record(token, name, True, relayed)
        except (OSError, smtplib.SMTPException):
            time.sleep(0.05)


def swaks_client(instance, ledger, stop):
    serial = 0
    while not stop.is_set():
        serial += 1
        token = f"SOAK-swaks-{serial}"
        ledger.record(token, "swaks", False)
        result = subprocess.run(
            ["swaks", "--server", "127.0.0.1", "--port", str(instance.smtp_port), "--to", "soak@example.test",
             "--from", "sender@example.test", "--header", f"Subject: soak {token}", "--body", f"Token: {token}",
             "--timeout", "20"],
            capture_output=True, text=True,
        )
        if result.returncode == 0:
            ledger.record(token, "swaks", True)
        time.sleep(0.05)


def sendmail_client(instance, ledger, stop):
    serial = 0
    environment = dict(os.environ, MAIL_CONFIG=instance.dir)
    while not stop.is_set():
        serial += 1
        token = f"SOAK-sendmail-{serial}"
        ledger.record(token, "sendmail", False)
        result = subprocess.run(
            [f"{instance.binaries}/sendmail", "-f", "sender@example.test", "soak@example.test"],
            input=message(token).replace("\r\n", "\n"), capture_output=True, text=True, env=environment,
        )
        if result.returncode == 0:
            ledger.record(token, "sendmail", True)
        time.sleep(0.1)


def delivered_tokens(instance):
    """token -> number of deliveries, in the Maildir (new/ and cur/) and the sink's files."""
    counts = {}
    sink_counts = {}
    paths = glob.glob(f"{instance.vmail}/example.test/soak/new/*") + glob.glob(f"{instance.vmail}/example.test/soak/cur/*")
    for target, files in ((counts, paths), (sink_counts, glob.glob(f"{instance.sink_dir}/*"))):
        for path in files:
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            for line in data.split(b"\n"):
                if line.startswith(b"Token: "):
                    token = line[7:].strip().decode()
                    target[token] = target.get(token, 0) + 1
                    break
    return counts, sink_counts


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binaries", required=True, help="directory of the built Aviary programs")
    parser.add_argument("--rounds", type=int, default=20, help="kills (default 20)")
    parser.add_argument("--interval", type=float, default=1.5, help="most seconds between kills (default 1.5)")
    parser.add_argument("--time-limit", type=float, default=300, help="most seconds of load (default 300)")
    parser.add_argument("--drain", type=float, default=180, help="most seconds to drain the queue (default 180)")
    parser.add_argument("--victims", default="smtpd,qmgr,local,smtp,pickup,master")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the instance directory")
    options = parser.parse_args()
    seed = options.seed if options.seed is not None else random.randrange(1 << 30)
    random.seed(seed)

    directory = tempfile.mkdtemp(prefix="aviary-soak.")
    instance = Instance(os.path.abspath(options.binaries), directory)
    instance.write()
    sink = None
    if shutil.which("smtp-sink"):
        if instance.is_root:
            shutil.chown(instance.sink_dir, "nobody")
        sink = subprocess.Popen(
            ["smtp-sink", "-u", "nobody" if instance.is_root else os.environ.get("USER", "nobody"), "-d",
             f"{instance.sink_dir}/%H%M%S.", f"127.0.0.1:{instance.sink_port}", "100"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    ledger = Ledger()
    stop = threading.Event()
    threads = []
    kills = []
    outcome = 2
    try:
        instance.start()
        relay_share = 0.2 if sink else 0.0
        for index in range(3):
            threads.append(threading.Thread(
                target=smtplib_client, args=(instance, ledger, f"py{index}", stop, 1 if index == 0 else 10, relay_share)))
        if shutil.which("swaks"):
            threads.append(threading.Thread(target=swaks_client, args=(instance, ledger, stop)))
        threads.append(threading.Thread(target=sendmail_client, args=(instance, ledger, stop)))
        background = None
        if sink and shutil.which("smtp-source"):
            # Background load without tokens: counted only in that the queue must drain.
            background = subprocess.Popen(
                ["smtp-source", "-s", "2", "-m", "2000", "-f", "bulk@example.test", "-t", "bulk@relay.test",
                 f"127.0.0.1:{instance.smtp_port}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        for thread in threads:
            thread.start()

        victims = options.victims.split(",")
        started = time.time()
        for round_number in range(options.rounds):
            if time.time() - started > options.time_limit:
                break
            time.sleep(random.uniform(0.2, options.interval))
            victim = random.choice(victims)
            if victim == "master":
                pid = instance.master_pid()
                if pid:
                    os.kill(pid, signal.SIGKILL)
                    kills.append(("master", pid))
                    # Its services notice and exit; then a new master.
                    deadline = time.time() + 30
                    while time.time() < deadline and instance.listening():
                        time.sleep(0.1)
                    instance.start()
                continue
            candidates = [pid for pid, name in instance.services() if name == victim]
            if candidates:
                pid = random.choice(candidates)
                try:
                    os.kill(pid, signal.SIGKILL)
                    kills.append((victim, pid))
                except ProcessLookupError:
                    pass
        stop.set()
        if background:
            background.kill()
        for thread in threads:
            thread.join(timeout=60)
        if not instance.master_pid():
            instance.start()

        # Drain: flush the deferred queue until every acknowledged token is in and the queue is empty.
        deadline = time.time() + options.drain
        acknowledged = {t for t, (_, ack, _) in ledger.sent.items() if ack}
        while True:
            instance.aviary("queue", "flush")
            counts, sink_counts = delivered_tokens(instance)
            queue = instance.aviary("queue", "list")
            empty = "Mail queue is empty" in queue.stdout
            missing = [t for t in acknowledged if counts.get(t, 0) + sink_counts.get(t, 0) == 0]
            if (empty and not missing) or time.time() > deadline:
                break
            time.sleep(1)
        counts, sink_counts = delivered_tokens(instance)
        relayed_duplicates = sorted(t for t, n in sink_counts.items() if n > 1)
        duplicates = sorted(t for t, n in counts.items() if n > 1)
        missing = sorted(t for t in acknowledged if counts.get(t, 0) + sink_counts.get(t, 0) == 0)
        unacknowledged = {t for t, (_, ack, _) in ledger.sent.items() if not ack}
        unacknowledged_delivered = sum(1 for t in unacknowledged if counts.get(t, 0) + sink_counts.get(t, 0) > 0)
        queue_text = instance.aviary("queue", "list").stdout
        # Then master stops: every process of the instance must go with it (none stuck as an orphan).
        if sink:
            sink.kill()
            sink.wait()
        instance.stop()
        orphans = []
        deadline = time.time() + 15
        while time.time() < deadline:
            orphans = instance.processes()
            if not orphans:
                break
            time.sleep(0.5)
        summary = {
            "seed": seed,
            "kills": len(kills),
            "killed": {name: sum(1 for v, _ in kills if v == name) for name in sorted(set(v for v, _ in kills))},
            "sent": len(ledger.sent),
            "acknowledged": len(acknowledged),
            "delivered_acknowledged": len(acknowledged) - len(missing),
            "delivered_locally": sum(counts.values()),
            "relayed_to_sink": sum(sink_counts.values()),
            "missing": len(missing),
            "duplicates": len(duplicates),
            "relayed_duplicates": len(relayed_duplicates),
            "unacknowledged": len(unacknowledged),
            "unacknowledged_delivered": unacknowledged_delivered,
            "queue_empty": "Mail queue is empty" in queue_text,
            "orphans": len(orphans),
        }
        print(json.dumps(summary))
        if missing:
            print("missing (acknowledged, never delivered): " + " ".join(missing[:20]), file=sys.stderr)
        if duplicates:
            print("delivered twice: " + " ".join(duplicates[:20]), file=sys.stderr)
        if not summary["queue_empty"]:
            print("queue not empty:\n" + queue_text, file=sys.stderr)
        if orphans:
            print("processes left after master stopped: " + ", ".join(orphans), file=sys.stderr)
            for pid in orphans:
                try:
                    os.kill(int(pid.split()[0]), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
        outcome = 0 if not missing and not duplicates and summary["queue_empty"] and not orphans else 1
        if outcome and not options.keep:
            print(f"instance kept for inspection: {directory}", file=sys.stderr)
            options.keep = True
    finally:
        stop.set()
        instance.stop()
        if sink:
            sink.kill()
        if not options.keep:
            shutil.rmtree(directory, ignore_errors=True)
    return outcome


if __name__ == "__main__":
    sys.exit(main())
