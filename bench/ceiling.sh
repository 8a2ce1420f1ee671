#!/usr/bin/env bash
# bench/ceiling.sh — the ceilings any mail server meets on this machine, to read Aviary's figures against.
#
# 1. SMTP with no disk and no delivery: the shared harness's smtp-source load (N x L bytes, S sessions, M per
#    connection) against Postfix's smtp-sink, at M=1 and at M=100. No server can accept faster than the
#    client sends; this is that rate.
# 2. Durable commits: bench/commit-ceiling.py on the filesystem holding /var/spool (override with --dir):
#    messages made durable per second with one file fsync and one directory fsync each, with the directory
#    fsync shared by a batch of B, with the rename committed by the file's fsync, and with B writers at once.
#
#   sudo bench/ceiling.sh                 N=5000 S=10 L=2048
#   sudo bench/ceiling.sh -n 2000 --dir /var/tmp
#
# Last lines: `ceiling smtp_sink_m1_mps=.. smtp_sink_m100_mps=..` and `commit ...` (see commit-ceiling.py).
set -euo pipefail
export LC_ALL=C
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N=${N:-5000}
S=${S:-10}
L=${L:-2048}
DIR=${DIR:-/var/spool}
SINK_PORT=${SINK_PORT:-2599}
SHARED_BENCH=${SHARED_BENCH:-$REPO_ROOT/../shared/bench}
while (($# > 0)); do
    case $1 in
        -n) N=$2; shift ;;
        -s) S=$2; shift ;;
        -l) L=$2; shift ;;
        --dir) DIR=$2; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 1 ;;
    esac
    shift
done
SINK=$(command -v smtp-sink || echo /usr/sbin/smtp-sink)
[[ -x $SINK ]] || die "smtp-sink not found (Debian package postfix)"
THROUGHPUT=$(realpath "$SHARED_BENCH/smtp-throughput.sh")
port_in_use "$SINK_PORT" && die "port $SINK_PORT is in use"

SINK_PID=
cleanup() {
    [[ -z $SINK_PID ]] || kill "$SINK_PID" 2>/dev/null || true
}
trap cleanup EXIT

# smtp-sink as root wants a user to run as; it answers 250 to everything and stores nothing.
user_option=()
[[ $EUID -ne 0 ]] || user_option=(-u nobody)
"$SINK" "${user_option[@]}" 127.0.0.1:"$SINK_PORT" 1024 &
SINK_PID=$!
wait_for_port 127.0.0.1 "$SINK_PORT" 10 || die "smtp-sink did not listen on $SINK_PORT"

declare -A RATE
for m in 1 100; do
    line=$("$THROUGHPUT" -x -H 127.0.0.1 -P "$SINK_PORT" -t sink@localhost -n "$N" -s "$S" -m "$m" -l "$L" 2>&1 |
        grep '^smtp ' | tail -n 1)
    echo "[smtp-sink m=$m] $line"
    RATE[$m]=$(field accept_mps "$line")
done
echo "ceiling smtp_sink_m1_mps=${RATE[1]} smtp_sink_m100_mps=${RATE[100]} n=$N s=$S l=$L"
python3 "$REPO_ROOT/bench/commit-ceiling.py" --dir "$DIR"
