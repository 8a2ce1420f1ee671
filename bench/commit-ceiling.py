#!/usr/bin/env python3
"""How many messages a second this disk can make durable, by the way the syncs are grouped.

Writes N files of SIZE bytes into a scratch directory on the filesystem under test (default: the one
holding /var/spool) and, for each batch size B in 1 2 4 8 16, times four ways of making them durable:

  file+dir      per message: write, fsync file, rename, fsync directory       (Aviary's queue today, Postfix)
  file+dir/B    per message: write, fsync file, rename; one directory fsync per batch of B
  rename+file   per message: write, rename, fsync file (ext4/xfs: the fsync commits the rename's transaction)
  threads/B     B threads at once doing file+dir each, as concurrent smtpd sessions do (jbd2 joins them)

Prints one line per way and batch size, then `commit key=value ...` with the best rate of each way.
Nothing here is a test: it measures the ceiling that group commit can reach on this machine.
"""
import argparse
import os
import shutil
import tempfile
import threading
import time


def durable(path, payload, sync_dir):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, payload)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)
    if sync_dir:
        sync_directory(os.path.dirname(path))


def sync_directory(directory):
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def rename_then_sync(path, payload):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, payload)
        os.rename(tmp, path)
        os.fsync(fd)
    finally:
        os.close(fd)


def run(way, batch, count, payload, scratch):
    directory = tempfile.mkdtemp(dir=scratch)
    started = time.perf_counter()
    if way == "file+dir":
        for i in range(count):
            durable(f"{directory}/{i}", payload, True)
    elif way == "file+dir/B":
        for first in range(0, count, batch):
            for i in range(first, min(first + batch, count)):
                durable(f"{directory}/{i}", payload, False)
            sync_directory(directory)
    elif way == "rename+file":
        for i in range(count):
            rename_then_sync(f"{directory}/{i}", payload)
    elif way == "threads/B":
        def worker(k):
            for i in range(k, count, batch):
                durable(f"{directory}/{i}", payload, True)
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(batch)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    elapsed = time.perf_counter() - started
    shutil.rmtree(directory)
    return count / elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", default="/var/spool", help="a directory on the filesystem under test")
    parser.add_argument("-n", type=int, default=400, help="messages per measurement (400)")
    parser.add_argument("--size", type=int, default=2300, help="bytes per message (2300, smtp-source's 2 KB)")
    parser.add_argument("--batches", default="1,2,4,8,16")
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="aviary-commit-", dir=args.dir)
    fs = os.statvfs(scratch)
    payload = os.urandom(args.size // 2).hex().encode()[: args.size]
    best = {}
    try:
        print(f"# {args.n} x {args.size} B in {scratch} (block size {fs.f_bsize})")
        for batch in [int(b) for b in args.batches.split(",")]:
            for way in ("file+dir", "file+dir/B", "rename+file", "threads/B"):
                if batch > 1 and way in ("file+dir", "rename+file"):
                    continue  # no batch in these: measured once
                rate = run(way, batch, args.n, payload, scratch)
                print(f"{way:12} B={batch:<3} {rate:8.0f} msg/s")
                key = way.replace("+", "_").replace("/B", "_batch")
                best[key] = max(best.get(key, 0), rate)
    finally:
        shutil.rmtree(scratch)
    print("commit " + " ".join(f"{k}={v:.0f}" for k, v in best.items()))


if __name__ == "__main__":
    main()
