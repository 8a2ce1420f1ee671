#!/usr/bin/env bash
# bench/imap-compare.sh — IMAP throughput of Aviary's imapd and of Dovecot 2.3, on this machine, in one run,
# and (--memory) the memory each needs for 1,000 idle logged-in connections.
#
# Both servers get the same load from the shared harness (../shared/bench/imap-throughput.py: K clients, one
# user per client, each looping sessions of CONNECT, LOGIN, SELECT INBOX, FETCH 1:* (FLAGS ENVELOPE
# BODYSTRUCTURE RFC822.SIZE), 10 body FETCHes, SEARCH UNSEEN, SEARCH SUBJECT, STORE +/-\Answered,
# UID FETCH 1:* (FLAGS), NOOP, LOGOUT; with --persist logging in once), clients connecting from 127.0.0.2.
# Each run is done twice per round and side: login per session, then --persist (log in once per client).
# Users are virtual: bench@example.test, bench2@example.test..bench10@example.test, password secret-bench,
# in ONE passwd-file both servers read (the same {SHA512-CRYPT} hash, 5000 rounds, ~1.5 ms per check; no
# login cache on either side). Mailboxes: Maildir++ at BASE/example.test/USER/ owned by aviary, a separate
# BASE per server, refilled before every run with the harness's corpus (benchlib.prefill_maildir: M messages
# of ~SIZE bytes in cur/), then one untimed warm-up session per user (Dovecot builds its indexes). Process
# model: Dovecot forks an imap-login and an imap process per connection (service_count = 1, the reference
# settings of ../shared/bench/results-reference.txt), Aviary's imapd is one long-lived process per core
# (master.cf maxproc -) serving every session. Both log nothing (DOVECOT_LOG, AVIARY_LOG = /dev/null). No TLS.
# Dovecot: mail_fsync = optimized; Aviary's imapd fsyncs what it renames (flag changes are renames).
#
#   sudo bench/imap-compare.sh                       Dovecot then Aviary, login-per-session and --persist, 20 s each
#   sudo bench/imap-compare.sh -r 3                  3 rounds, order alternating; medians are compared
#   sudo bench/imap-compare.sh -r 3 --memory         also memory with 1,000 idle logged-in connections per server
#   sudo bench/imap-compare.sh --only aviary -k      one side only (the ratios are then NA); keep the instance dir
#
# Options (or environment variables): -r REPEAT (1) -c CLIENTS (10) -m MESSAGES per mailbox (100)
# -l SIZE bytes per message (4096) -d DURATION seconds per run (20) -T TIMEOUT seconds per run on top of
# DURATION (300) --mode both|session|persist (MODE: which runs; default both) --memory (MEMORY=1)
# --idle N (IDLE_CONNS: connections of the memory test, 1000) --only dovecot|aviary -k (KEEP=1: keep the
# temporary directory) --scheme SHA512-CRYPT|BLF-CRYPT (SCHEME: the password hash both servers check).
# Environment: SHARED_BENCH (default: ../shared/bench beside the repository), DOVECOT_PORT (1144),
# AVIARY_PORT (1143), SOURCE (127.0.0.2), AVIARY_LOG and DOVECOT_LOG (/dev/null; a file path keeps the
# log), SKIP_BUILD=1 (use the existing .build/release), AVIARY_BIN_DIR (run the programs of another build;
# implies no build), IMAPD_MAXPROC (master.cf maxproc of imapd; default -, one per core).
#
# Needs root: it installs dovecot-imapd if missing (the system's dovecot service is then stopped and
# disabled), runs a private Dovecot instance (dovecot -c FILE, base_dir and state under a temporary
# directory, imap on 127.0.0.1:$DOVECOT_PORT; the system's Dovecot is not touched) and Aviary's master as
# root (aviary start -c DIR, imapd on 127.0.0.1:$AVIARY_PORT, running as mail_owner aviary). Both are
# stopped at the end, whatever happens. Besides the harness's line, every run reports server_cpu_s (CPU
# time of the server's process tree, exited children included) and server_cpu_ms_per_op. Last line:
#   ratio imap_ops=X imap_persist_ops=Y aviary_ops_s=.. dovecot_ops_s=.. ...
# with X, Y = Aviary / Dovecot ops/s (medians). Exit 0 when every run succeeded, 1 otherwise.
set -euo pipefail
export LC_ALL=C
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REPEAT=${REPEAT:-1}
CLIENTS=${CLIENTS:-10}
MESSAGES=${MESSAGES:-100}
SIZE=${SIZE:-4096}
DURATION=${DURATION:-20}
TIMEOUT=${TIMEOUT:-300}
ONLY=${ONLY:-both}
MODE=${MODE:-both}
MEMORY=${MEMORY:-0}
IDLE_CONNS=${IDLE_CONNS:-1000}
SCHEME=${SCHEME:-SHA512-CRYPT}
SHARED_BENCH=${SHARED_BENCH:-$REPO_ROOT/../shared/bench}
DOVECOT_PORT=${DOVECOT_PORT:-1144}
AVIARY_PORT=${AVIARY_PORT:-1143}
SOURCE=${SOURCE:-127.0.0.2}
AVIARY_LOG=${AVIARY_LOG:-/dev/null}
DOVECOT_LOG=${DOVECOT_LOG:-/dev/null}
IMAPD_MAXPROC=${IMAPD_MAXPROC:--}
PASSWORD=secret-bench
DOMAIN=example.test
MAIL_OWNER=aviary
BENCH_USERS=(bench bench2 bench3 bench4 bench5 bench6 bench7 bench8 bench9 bench10)

while (($# > 0)); do
    case $1 in
        -r) REPEAT=$2; shift ;;
        -c) CLIENTS=$2; shift ;;
        -m) MESSAGES=$2; shift ;;
        -l) SIZE=$2; shift ;;
        -d) DURATION=$2; shift ;;
        -T) TIMEOUT=$2; shift ;;
        -k) KEEP=1 ;;
        --mode) MODE=$2; shift ;;
        --persist) MODE=persist ;;
        --memory) MEMORY=1 ;;
        --idle) IDLE_CONNS=$2; shift ;;
        --only) ONLY=$2; shift ;;
        --scheme) SCHEME=$2; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 1 ;;
    esac
    shift
done
for v in REPEAT CLIENTS MESSAGES SIZE DURATION TIMEOUT DOVECOT_PORT AVIARY_PORT IDLE_CONNS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
done
[[ $IMAPD_MAXPROC == - || $IMAPD_MAXPROC =~ ^[1-9][0-9]*$ ]] || die "IMAPD_MAXPROC must be - or a positive integer"
case $ONLY in
    both) SIDES=(dovecot aviary) ;;
    dovecot | aviary) SIDES=("$ONLY") ;;
    *) die "--only takes dovecot or aviary, not '$ONLY'" ;;
esac
case $MODE in
    both) MODES=(session persist) ;;
    session | persist) MODES=("$MODE") ;;
    *) die "--mode takes both, session or persist, not '$MODE'" ;;
esac
SCHEME=${SCHEME^^}
case $SCHEME in
    SHA512-CRYPT | BLF-CRYPT) ;;
    *) die "--scheme takes SHA512-CRYPT or BLF-CRYPT, not '$SCHEME'" ;;
esac
((CLIENTS <= ${#BENCH_USERS[@]})) ||
    note "more clients than users: Dovecot allows 10 connections per user and IP (mail_max_userip_connections)"

[[ $EUID -eq 0 ]] || die "run as root (sudo $0): it refills the bench Maildirs and starts both servers as root"
THROUGHPUT=$SHARED_BENCH/imap-throughput.py
MEMORY_SH=$SHARED_BENCH/memory.sh
[[ -x $THROUGHPUT && -f $SHARED_BENCH/benchlib.py ]] || die "$THROUGHPUT not found; set SHARED_BENCH to the shared bench/ directory"
THROUGHPUT=$(realpath "$THROUGHPUT")
SHARED_BENCH=$(dirname "$THROUGHPUT")
if ((MEMORY)); then
    [[ -x $MEMORY_SH ]] || die "$MEMORY_SH not found (needed for --memory)"
    MEMORY_SH=$(realpath "$MEMORY_SH")
fi
# The memory test holds IDLE_CONNS sockets in one client process, and each server as many.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if ((MEMORY)) && (($(ulimit -n) < IDLE_CONNS + 200)); then
    ulimit -n $((IDLE_CONNS * 2 + 1024)) 2>/dev/null || die "cannot raise ulimit -n to $((IDLE_CONNS * 2 + 1024))"
fi

# ---------------------------------------------------------------------------------------------
# Clean-up: stop what this script started (by pid), remove its directory. Runs on every exit.
WORK=
DOVECOT_PID=
AVIARY_PID=
AVIARY=
HARNESS_PID=
trap cleanup_dovecot_and_aviary EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# Prerequisites: the aviary mail_owner (it owns both servers' Maildirs), Dovecot's IMAP server.
"$REPO_ROOT/scripts/install-deps.sh" --system-user
id "$MAIL_OWNER" >/dev/null 2>&1 || die "user $MAIL_OWNER is missing (scripts/install-deps.sh --system-user)"
if has_side dovecot; then install_private_dovecot dovecot-imapd; fi

# Both instances live on the filesystem of /var (never a tmpfs).
WORK=$(mktemp -d /var/tmp/imap-compare.XXXXXX)
chmod 755 "$WORK"

# The users file both servers read: user@domain:{SCHEME}hash, one hash per user made here. Readable by
# everyone (mode 644, in the private work directory): Aviary's imapd reads it as aviary, Dovecot's auth
# process as dovecot, and the password is the public bench one.
USERS_FILE=$WORK/users
python3 -W ignore - "$SCHEME" "$PASSWORD" "$DOMAIN" "${BENCH_USERS[@]}" >"$USERS_FILE" <<'EOF'
import crypt, sys
scheme, password, domain, users = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
for u in users:
    if scheme == "SHA512-CRYPT":
        salt = crypt.mksalt(crypt.METHOD_SHA512)              # $6$, 5000 rounds: Dovecot's default
    else:
        salt = crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=32)  # $2b$05$: Dovecot's default cost 5
    h = crypt.crypt(password, salt)
    assert h and h.startswith("$"), "crypt failed"
    print(f"{u}@{domain}:{{{scheme}}}{h}")
EOF
chmod 644 "$USERS_FILE"
LOGINS=()
for u in "${BENCH_USERS[@]}"; do LOGINS+=("$u@$DOMAIN"); done

# refill BASE: every bench user's Maildir at BASE/DOMAIN/USER/ replaced by the harness's corpus (the same
# function and arguments the harness uses with --prefill maildir; its --maildir template cannot express
# DOMAIN/LOCALPART for the user@domain logins), owned by the mail owner.
refill() {
    install -d -o "$MAIL_OWNER" -g "$(id -gn "$MAIL_OWNER")" -m 755 "$1" "$1/$DOMAIN"
    python3 - "$SHARED_BENCH" "$1/$DOMAIN" "$MESSAGES" "$SIZE" "$MAIL_OWNER" "${LOGINS[@]}" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import benchlib
base, n, size, owner = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
for login in sys.argv[6:]:
    benchlib.prefill_maildir(f"{base}/{login.split('@')[0]}", n, size, login, owner, 1)
EOF
}

# tree_cpu_ticks PID: CPU time (clock ticks) of PID and every process below it, including the exited
# children they reaped (cutime/cstime), so forked per-connection processes count.
tree_cpu_ticks() {
    local p line rest total=0
    local -a f
    for p in "$1" $(descendants "$1"); do
        read -r line 2>/dev/null <"/proc/$p/stat" || continue
        rest=${line##*) }
        read -r -a f <<<"$rest"
        total=$((total + f[11] + f[12] + f[13] + f[14]))
    done
    echo "$total"
}
CLK_TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------------------------------------
# Aviary: release build, config in $WORK/aviary-etc, master started as root, imapd as aviary.
start_aviary() {
    build_aviary aviary master imapd
    port_in_use "$AVIARY_PORT" && die "port $AVIARY_PORT is in use (ss -ltnp 'sport = :$AVIARY_PORT'); stop that first"

    local etc=$WORK/aviary-etc limit=
    mkdir -p "$etc"
    # One imapd process takes at most imapd_connection_limit sessions (1000): the memory test may need more.
    ((MEMORY && IDLE_CONNS > 900)) && limit="imapd_connection_limit = $((IDLE_CONNS + 100))"
    cat >"$etc/main.cf" <<EOF
# imap-compare.sh: Aviary's imapd for the virtual users bench..bench10@$DOMAIN, plaintext logins.
queue_directory = $WORK/aviary-spool
myhostname = mail.test
mydestination = localhost
mynetworks = 127.0.0.0/8
alias_maps = hash:$etc/aliases
virtual_mailbox_domains = $DOMAIN
virtual_mailbox_maps = passwd-file:$USERS_FILE
virtual_mailbox_base = $WORK/aviary-mail
imapd_tls_auth_only = no
maillog_file = $AVIARY_LOG
$limit
EOF
    cat >"$etc/master.cf" <<EOF
127.0.0.1:$AVIARY_PORT inet n - n - $IMAPD_MAXPROC imapd
EOF
    printf 'postmaster: root\n' >"$etc/aliases"
    refill "$WORK/aviary-mail"

    launch_aviary "$etc" imap-compare
    note "aviary up: master pid $AVIARY_PID, imapd on 127.0.0.1:$AVIARY_PORT (maxproc $IMAPD_MAXPROC)"
}

# ---------------------------------------------------------------------------------------------
# Dovecot: a private instance with the reference settings (../shared/bench/setup-anchors.sh on Debian's
# defaults, see results-reference.txt: service_count = 1 for imap-login and imap, auth_cache_size = 0,
# mail_fsync = optimized, default auth penalties), but only IMAP, only 127.0.0.1:$DOVECOT_PORT, and the
# virtual users of the shared passwd-file (static userdb: uid aviary, home BASE/DOMAIN/USER, mail in ~).
# With --memory the limits that would refuse IDLE_CONNS connections are raised (they change nothing for
# the throughput runs' 10 connections): mail_max_userip_connections (10), imap-login's process_limit and
# default_client_limit.
start_dovecot() {
    command -v dovecot >/dev/null || die "dovecot is not installed"
    port_in_use "$DOVECOT_PORT" && die "port $DOVECOT_PORT is in use (ss -ltnp 'sport = :$DOVECOT_PORT'); stop that first"
    local conf=$WORK/dovecot.conf run=$WORK/dovecot-run base=$WORK/dovecot-mail
    local userip=10 login_limit=100 imap_limit=1024 client_limit=1000
    if ((MEMORY)); then
        userip=$(((IDLE_CONNS + ${#BENCH_USERS[@]} - 1) / ${#BENCH_USERS[@]} + 10))
        login_limit=$((IDLE_CONNS + 100))
        imap_limit=$((IDLE_CONNS + 100))
        client_limit=$((IDLE_CONNS * 2 + 200))
    fi
    mkdir -p "$WORK/dovecot-state"
    cat >"$conf" <<EOF
# imap-compare.sh: a private Dovecot instance (IMAP only), the reference settings.
instance_name = imap-compare
base_dir = $run
state_dir = $WORK/dovecot-state
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
log_path = $DOVECOT_LOG
mail_location = maildir:~
mail_fsync = optimized
auth_cache_size = 0
auth_mechanisms = plain login
mail_max_userip_connections = $userip
default_client_limit = $client_limit
default_internal_user = dovecot
default_login_user = dovenull
passdb {
  driver = passwd-file
  args = $USERS_FILE
}
userdb {
  driver = static
  args = uid=$MAIL_OWNER gid=$(id -gn "$MAIL_OWNER") home=$base/%d/%n
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $DOVECOT_PORT
  }
  inet_listener imaps {
    port = 0
  }
  service_count = 1
  process_min_avail = 0
  client_limit = 0
  process_limit = $login_limit
}
service imap {
  service_count = 1
  process_min_avail = 0
  client_limit = 1
  process_limit = $imap_limit
}
EOF
    refill "$base"
    launch_dovecot "$conf" "$run"
    note "dovecot up: master pid $DOVECOT_PID, imap on 127.0.0.1:$DOVECOT_PORT ($(dovecot --version))"
}

# Aviary first: if it cannot start (or build), say so before anything else.
if has_side aviary; then start_aviary; fi
if has_side dovecot; then start_dovecot; fi

# ---------------------------------------------------------------------------------------------
# The runs.
users_csv=$(
    IFS=,
    echo "${LOGINS[*]}"
)
harness_args=(--host 127.0.0.1 --users "$users_csv" --password "$PASSWORD" --clients "$CLIENTS"
    --messages "$MESSAGES" --size "$SIZE" --duration "$DURATION" --source "$SOURCE" --prefill none)

side_pid() { if [[ $1 == dovecot ]]; then echo "$DOVECOT_PID"; else echo "$AVIARY_PID"; fi; }
side_port() { if [[ $1 == dovecot ]]; then echo "$DOVECOT_PORT"; else echo "$AVIARY_PORT"; fi; }
side_base() { echo "$WORK/$1-mail"; }

declare -A OPS ROUNDS P99 LOGIN FETCHALL CPUOP SCPU CCPU
failures=0
note "load: clients=$CLIENTS users=${#BENCH_USERS[@]} messages=$MESSAGES size=$SIZE duration=${DURATION}s" \
    "modes=${MODES[*]} scheme=$SCHEME source=$SOURCE, repeat=$REPEAT (order alternates), memory=$MEMORY"
for ((round = 1; round <= REPEAT; round++)); do
    order=("${SIDES[@]}")
    if ((round % 2 == 0 && ${#SIDES[@]} == 2)); then order=("${SIDES[1]}" "${SIDES[0]}"); fi
    for mode in "${MODES[@]}"; do
        for side in "${order[@]}"; do
            pid=$(side_pid "$side")
            port=$(side_port "$side")
            key=$side-$mode
            kill -0 "$pid" 2>/dev/null || die "$side (master pid $pid) is no longer running"
            refill "$(side_base "$side")"
            bg=$(cpu_busy_pct 3)
            log=$WORK/run-$round-$key.log
            rc=0
            cmd=(timeout $((DURATION + TIMEOUT)) "$THROUGHPUT" --port "$port" "${harness_args[@]}")
            [[ $mode == persist ]] && cmd+=(--persist)
            cpu0=$(tree_cpu_ticks "$pid")
            # In the background, so that Ctrl-C or TERM reach the traps at once (cleanup stops it).
            "${cmd[@]}" >"$log" 2>&1 &
            HARNESS_PID=$!
            wait "$HARNESS_PID" || rc=$?
            HARNESS_PID=
            cpu1=$(tree_cpu_ticks "$pid")
            line=$(grep '^imap ' "$log" | tail -n 1 || true)
            errors=$(field errors "$line")
            if ((rc != 0)) || [[ -z $line || $errors != 0 ]]; then
                failures=$((failures + 1))
                echo "[$side $mode $round] FAILED (exit $rc, errors=${errors:-?}); last lines of the harness output:"
                grep -E '^(error|fatal|warning)' "$log" | head -n 5 | sed 's/^/    /' || true
                tail -n 3 "$log" | sed 's/^/    /'
            fi
            [[ -n $line ]] || line="imap ops_s=NA rounds_s=NA p99_ms=NA ops=0"
            # The server's CPU over the whole run (the untimed warm-up sessions included, ~1 % of the work).
            scpu=$(awk -v t=$((cpu1 - cpu0)) -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", t / hz}')
            ops=$(field ops "$line")
            cpuop=$(awk -v s="$scpu" -v n="${ops:-0}" 'BEGIN {printf (n > 0) ? "%.3f" : "NA", s * 1000 / n}')
            echo "[$side $mode $round] $line bg_busy_pct=$bg server_cpu_s=$scpu server_cpu_ms_per_op=$cpuop"
            OPS[$key]+="$(field ops_s "$line") "
            ROUNDS[$key]+="$(field rounds_s "$line") "
            P99[$key]+="$(field p99_ms "$line") "
            LOGIN[$key]+="$(field LOGIN_p50_ms "$line") "
            FETCHALL[$key]+="$(field FETCH_ALL_p50_ms "$line") "
            CPUOP[$key]+="$cpuop "
            SCPU[$key]+="$scpu "
            CCPU[$key]+="$(field client_cpu_s "$line") "
        done
    done
done

# ---------------------------------------------------------------------------------------------
# Memory: IDLE_CONNS connections, each logged in (users in turn) with INBOX selected, then idle.
# Total RSS and PSS of the server's process tree (shared memory.sh) before and while they are open.
declare -A MEM
if ((MEMORY)); then
    cat >"$WORK/idle-conns.py" <<'EOF'
# Opens N IMAP connections, logs each in and SELECTs INBOX, prints "ready N" and waits for stdin to close.
import socket, sys, time
host, port, source, n, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
users = sys.argv[6:]
conns = []

def until(s, tag):
    buf = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit(f"connection {len(conns)} closed: {buf[-200:]!r}")
        buf += chunk
        for line in buf.split(b"\r\n"):
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise SystemExit(f"connection {len(conns)}: {line!r}")
                return
        if tag == b"*" and buf.endswith(b"\r\n"):
            return

t0 = time.monotonic()
for i in range(n):
    s = socket.create_connection((host, port), timeout=30, source_address=(source, 0))
    until(s, b"*")  # greeting
    s.sendall(f'a LOGIN "{users[i % len(users)]}" "{password}"\r\n'.encode())
    until(s, b"a")
    s.sendall(b"b SELECT INBOX\r\n")
    until(s, b"b")
    conns.append(s)
print(f"ready {len(conns)} in {time.monotonic() - t0:.1f}s", flush=True)
sys.stdin.read()
EOF
    for side in "${SIDES[@]}"; do
        pid=$(side_pid "$side")
        refill "$(side_base "$side")"
        before=$(timeout 60 "$MEMORY_SH" -L "$side" -t "$pid" | tail -n 1)
        echo "[$side idle] $before"
        fifo=$WORK/idle-$side.fifo
        out=$WORK/idle-$side.out
        rm -f "$fifo"
        mkfifo "$fifo"
        python3 "$WORK/idle-conns.py" 127.0.0.1 "$(side_port "$side")" "$SOURCE" "$IDLE_CONNS" "$PASSWORD" \
            "${LOGINS[@]}" <"$fifo" >"$out" 2>&1 &
        HARNESS_PID=$!
        exec 9>"$fifo" # holds the client's stdin open until we close it
        deadline=$((SECONDS + 300))
        while ((SECONDS < deadline)) && kill -0 "$HARNESS_PID" 2>/dev/null && ! grep -q '^ready' "$out"; do sleep 0.5; done
        if grep -q '^ready' "$out"; then
            sleep 3 # let the server settle (Dovecot's login processes exit after handing over)
            after=$(timeout 120 "$MEMORY_SH" -L "$side" -t "$pid" | tail -n 1)
            echo "[$side idle$IDLE_CONNS] $after ($(head -n 1 "$out"))"
            b=$(field idle_pss_kb "$before") a=$(field idle_pss_kb "$after")
            br=$(field idle_rss_kb "$before") ar=$(field idle_rss_kb "$after")
            MEM[$side]="idle${IDLE_CONNS}_pss_kb=$a idle${IDLE_CONNS}_rss_kb=$ar idle${IDLE_CONNS}_nproc=$(field idle_nproc "$after")"
            MEM[$side]+=" pss_kb_per_conn=$(awk -v a="$a" -v b="$b" -v n="$IDLE_CONNS" 'BEGIN {printf "%.1f", (a - b) / n}')"
            MEM[$side]+=" rss_kb_per_conn=$(awk -v a="$ar" -v b="$br" -v n="$IDLE_CONNS" 'BEGIN {printf "%.1f", (a - b) / n}')"
        else
            failures=$((failures + 1))
            echo "[$side idle$IDLE_CONNS] FAILED: $(tail -n 3 "$out" | tr '\n' ' ')"
            MEM[$side]="idle${IDLE_CONNS}_pss_kb=NA"
        fi
        exec 9>&- # EOF on the client's stdin: it exits and its connections close
        wait_gone "$HARNESS_PID" 30 || kill -KILL "$HARNESS_PID" 2>/dev/null || true
        wait "$HARNESS_PID" 2>/dev/null || true
        HARNESS_PID=
        sleep 2
    done
fi

# ---------------------------------------------------------------------------------------------
# shellcheck disable=SC2086  # word-split the collected values
summary() { # SIDE-MODE: its medians as key=value
    local k=$1
    echo "ops_s=$(median ${OPS[$k]:-}) rounds_s=$(median ${ROUNDS[$k]:-}) p99_ms=$(median ${P99[$k]:-})" \
        "LOGIN_p50_ms=$(median ${LOGIN[$k]:-}) FETCH_ALL_p50_ms=$(median ${FETCHALL[$k]:-})" \
        "server_cpu_s=$(median ${SCPU[$k]:-}) client_cpu_s=$(median ${CCPU[$k]:-}) server_cpu_ms_per_op=$(median ${CPUOP[$k]:-})"
}
declare -A S
for side in dovecot aviary; do
    for mode in session persist; do
        S[$side-$mode]=$(summary "$side-$mode")
        [[ " ${MODES[*]} " == *" $mode "* ]] && has_side "$side" && printf '%-16s %s\n' "$side $mode:" "${S[$side-$mode]}"
    done
    ((MEMORY)) && has_side "$side" && printf '%-16s %s\n' "$side memory:" "${MEM[$side]:-NA}"
done
echo "(medians of $REPEAT; equal auth: the same {$SCHEME} hashes in one passwd-file, no cache; clients from $SOURCE)"
f() { field "$1" "${S[$2]}"; }
echo "ratio imap_ops=$(ratio "$(f ops_s aviary-session)" "$(f ops_s dovecot-session)")" \
    "imap_persist_ops=$(ratio "$(f ops_s aviary-persist)" "$(f ops_s dovecot-persist)")" \
    "aviary_ops_s=$(f ops_s aviary-session) dovecot_ops_s=$(f ops_s dovecot-session)" \
    "aviary_persist_ops_s=$(f ops_s aviary-persist) dovecot_persist_ops_s=$(f ops_s dovecot-persist)" \
    "aviary_p99_ms=$(f p99_ms aviary-session) dovecot_p99_ms=$(f p99_ms dovecot-session)" \
    "aviary_persist_p99_ms=$(f p99_ms aviary-persist) dovecot_persist_p99_ms=$(f p99_ms dovecot-persist)" \
    "aviary_login_p50_ms=$(f LOGIN_p50_ms aviary-session) dovecot_login_p50_ms=$(f LOGIN_p50_ms dovecot-session)" \
    "aviary_cpu_ms_per_op=$(f server_cpu_ms_per_op aviary-session) dovecot_cpu_ms_per_op=$(f server_cpu_ms_per_op dovecot-session)" \
    "aviary_persist_cpu_ms_per_op=$(f server_cpu_ms_per_op aviary-persist) dovecot_persist_cpu_ms_per_op=$(f server_cpu_ms_per_op dovecot-persist)" \
    "$( ((MEMORY)) && for side in aviary dovecot; do
        v=$(field "idle${IDLE_CONNS}_pss_kb" "${MEM[$side]:-}")
        r=$(field "idle${IDLE_CONNS}_rss_kb" "${MEM[$side]:-}")
        printf '%s ' "${side}_idle${IDLE_CONNS}_pss_kb=${v:-NA} ${side}_idle${IDLE_CONNS}_rss_kb=${r:-NA}"
    done)" \
    "clients=$CLIENTS messages=$MESSAGES size=$SIZE duration=$DURATION repeat=$REPEAT scheme=$SCHEME imapd_maxproc=$IMAPD_MAXPROC"
((failures == 0))
