#!/usr/bin/env bash
# bench/pop3-compare.sh — POP3 throughput of Aviary's pop3d and of Dovecot 2.3, on this machine, in one run.
#
# Both servers get the same load from the shared harness (../shared/bench/pop3-throughput.py: K clients,
# each looping sessions of CONNECT, USER+PASS, STAT, LIST, UIDL, RETR of all M messages, QUIT; one user
# per client, the users bench, bench2..bench10, mailboxes /home/USER/Maildir/ refilled before every run,
# clients connecting from 127.0.0.2) and serve the same system users' Maildirs, so ops/s and latencies
# compare directly. Equal authentication: both check the same yescrypt hash (the users' own, copied from
# /etc/shadow into each server's passwd-file, ~25 ms of CPU per login), neither caches logins. Equal
# process model as far as it goes: Dovecot forks a pop3-login and a pop3 process per connection
# (service_count = 1, the reference settings); Aviary's pop3d is one long-lived process that hands each
# system user's session to a fresh root-started pop3mail process (which becomes the user). Both log
# nothing (DOVECOT_LOG, AVIARY_LOG = /dev/null). No TLS.
#
#   sudo bench/pop3-compare.sh                       Dovecot then Aviary, once, 20 s each
#   sudo bench/pop3-compare.sh -r 3                  3 rounds, order alternating; medians are compared
#   sudo bench/pop3-compare.sh -r 3 --memory         also memory (shared memory.sh) during every run
#   sudo bench/pop3-compare.sh --only aviary -k      one side only (the ratio is then NA); keep the instance dir
#
# Options (or environment variables): -r REPEAT (1) -c CLIENTS (10) -m MESSAGES per mailbox (100)
# -l SIZE bytes per message (4096) -d DURATION seconds per run (20) -T TIMEOUT seconds per run on top of
# DURATION (300) --persist (log in once per client: command speed without connect/login)
# --memory (MEMORY=1) --only dovecot|aviary -k (KEEP=1: keep the temporary directory).
# Environment: SHARED_BENCH (default: ../shared/bench beside the repository), DOVECOT_PORT (1111),
# AVIARY_PORT (1110), SOURCE (127.0.0.2), AVIARY_LOG and DOVECOT_LOG (/dev/null; a file path keeps the
# log), SKIP_BUILD=1 (use the existing .build/release), AVIARY_BIN_DIR (run the programs of another build;
# implies no build), POP3MAIL_MAXPROC (master.cf maxproc of pop3mail; default -, i.e. default_process_limit
# = 10, as master.cf.example ships it: each pop3mail serves one session and is replaced at once).
#
# Needs root: it installs dovecot-pop3d if missing (the system's dovecot service is then stopped and
# disabled), creates the users bench, bench2..bench10 if missing (password secret-bench), refills their
# Maildirs, runs a private Dovecot instance (dovecot -c FILE, base_dir and state under a temporary
# directory, pop3 on 127.0.0.1:$DOVECOT_PORT; the system's Dovecot is not touched) and Aviary's master as
# root (aviary start -c DIR, pop3d on 127.0.0.1:$AVIARY_PORT). Both are stopped at the end, whatever
# happens. Last line of output:
#   ratio pop3_ops=X sessions=Y aviary_ops_s=.. dovecot_ops_s=.. aviary_p99_ms=.. dovecot_p99_ms=.. ...
# with X, Y = Aviary / Dovecot (medians). Exit 0 when every run succeeded, 1 otherwise.
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
MEMORY=${MEMORY:-0}
PERSIST=${PERSIST:-0}
SHARED_BENCH=${SHARED_BENCH:-$REPO_ROOT/../shared/bench}
DOVECOT_PORT=${DOVECOT_PORT:-1111}
AVIARY_PORT=${AVIARY_PORT:-1110}
SOURCE=${SOURCE:-127.0.0.2}
AVIARY_LOG=${AVIARY_LOG:-/dev/null}
POP3MAIL_MAXPROC=${POP3MAIL_MAXPROC:--}
DOVECOT_LOG=${DOVECOT_LOG:-/dev/null}
PASSWORD=secret-bench
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
        --persist) PERSIST=1 ;;
        --memory) MEMORY=1 ;;
        --only) ONLY=$2; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 1 ;;
    esac
    shift
done
for v in REPEAT CLIENTS MESSAGES SIZE DURATION TIMEOUT DOVECOT_PORT AVIARY_PORT; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
done
[[ $POP3MAIL_MAXPROC == - || $POP3MAIL_MAXPROC =~ ^[1-9][0-9]*$ ]] || die "POP3MAIL_MAXPROC must be - or a positive integer"
case $ONLY in
    both) SIDES=(dovecot aviary) ;;
    dovecot | aviary) SIDES=("$ONLY") ;;
    *) die "--only takes dovecot or aviary, not '$ONLY'" ;;
esac

[[ $EUID -eq 0 ]] || die "run as root (sudo $0): it refills the bench users' Maildirs and starts both servers as root"
THROUGHPUT=$SHARED_BENCH/pop3-throughput.py
MEMORY_SH=$SHARED_BENCH/memory.sh
[[ -x $THROUGHPUT ]] || die "$THROUGHPUT not found; set SHARED_BENCH to the shared bench/ directory"
THROUGHPUT=$(realpath "$THROUGHPUT")
if ((MEMORY)); then
    [[ -x $MEMORY_SH ]] || die "$MEMORY_SH not found (needed for --memory)"
    MEMORY_SH=$(realpath "$MEMORY_SH")
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
# Prerequisites: packages, the aviary mail_owner, Dovecot, the bench users.
if has_side aviary; then
    "$REPO_ROOT/scripts/install-deps.sh" --system-user # Aviary's services run as mail_owner aviary
fi
if has_side dovecot; then install_private_dovecot dovecot-pop3d; fi

# The users, their password, their (empty) Maildirs. A password is set only when it is not already
# secret-bench, so that repeated runs leave /etc/shadow alone.
password_ok() { # USER: whether /etc/shadow holds a hash of $PASSWORD for USER
    python3 -W ignore -c 'import crypt, sys; h = sys.argv[1]; sys.exit(0 if h.startswith("$") and crypt.crypt(sys.argv[2], h) == h else 1)' \
        "$(getent shadow "$1" | cut -d: -f2)" "$PASSWORD"
}
for u in "${BENCH_USERS[@]}"; do
    if ! id "$u" >/dev/null 2>&1; then
        note "creating user $u"
        useradd -m -s /bin/bash "$u"
    fi
    password_ok "$u" || echo "$u:$PASSWORD" | chpasswd
    password_ok "$u" || die "could not set the password of $u"
    home=$(getent passwd "$u" | cut -d: -f6)
    [[ $home == "/home/$u" ]] || die "$u's home is $home, the harness expects /home/$u"
    install -d -o "$u" -g "$(id -gn "$u")" -m 700 "$home/Maildir" "$home/Maildir/new" "$home/Maildir/cur" "$home/Maildir/tmp"
done

# users_file: passwd-file lines (the same for both servers): bare system names and their shadow hashes.
users_file() {
    local u
    for u in "${BENCH_USERS[@]}"; do
        printf '%s:{CRYPT}%s\n' "$u" "$(getent shadow "$u" | cut -d: -f2)"
    done
}

# Both instances live on the filesystem of /var (never a tmpfs).
WORK=$(mktemp -d /var/tmp/pop3-compare.XXXXXX)
chmod 755 "$WORK"

# ---------------------------------------------------------------------------------------------
# Aviary: release build, config in $WORK/aviary-etc, master started as root.
start_aviary() {
    build_aviary aviary master pop3d pop3mail
    port_in_use "$AVIARY_PORT" && die "port $AVIARY_PORT is in use (ss -ltnp 'sport = :$AVIARY_PORT'); stop that first"

    local etc=$WORK/aviary-etc
    mkdir -p "$etc"
    cat >"$etc/main.cf" <<EOF
# pop3-compare.sh: Aviary's pop3d for the system users bench..bench10 (~/Maildir/), plaintext logins.
queue_directory = $WORK/aviary-spool
myhostname = mail.test
mydestination = localhost
mynetworks = 127.0.0.0/8
home_mailbox = Maildir/
alias_maps = hash:$etc/aliases
virtual_mailbox_maps = passwd-file:$etc/users
pop3d_tls_auth_only = no
maillog_file = $AVIARY_LOG
EOF
    cat >"$etc/master.cf" <<EOF
127.0.0.1:$AVIARY_PORT inet n - n - - pop3d
pop3mail unix - n n - $POP3MAIL_MAXPROC pop3mail
EOF
    printf 'postmaster: root\n' >"$etc/aliases"
    users_file >"$etc/users"
    chown root:aviary "$etc/users"
    chmod 640 "$etc/users"

    launch_aviary "$etc" pop3-compare
    note "aviary up: master pid $AVIARY_PID, pop3d on 127.0.0.1:$AVIARY_PORT"
}

# ---------------------------------------------------------------------------------------------
# Dovecot: a private instance with the reference settings (../shared/bench/setup-anchors.sh on
# Debian's defaults, see results-reference.txt: service_count = 1 for pop3-login and pop3,
# auth_cache_size = 0, mail_fsync = optimized, default auth penalties), but only POP3, only
# 127.0.0.1:$DOVECOT_PORT, and passwd-file instead of PAM (the same yescrypt hashes as Aviary's).
start_dovecot() {
    command -v dovecot >/dev/null || die "dovecot is not installed"
    port_in_use "$DOVECOT_PORT" && die "port $DOVECOT_PORT is in use (ss -ltnp 'sport = :$DOVECOT_PORT'); stop that first"
    local conf=$WORK/dovecot.conf run=$WORK/dovecot-run
    mkdir -p "$WORK/dovecot-state"
    users_file >"$WORK/dovecot-users"
    chown root:dovecot "$WORK/dovecot-users"
    chmod 640 "$WORK/dovecot-users"
    cat >"$conf" <<EOF
# pop3-compare.sh: a private Dovecot instance (POP3 only), the reference settings.
instance_name = pop3-compare
base_dir = $run
state_dir = $WORK/dovecot-state
protocols = pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
log_path = $DOVECOT_LOG
mail_location = maildir:~/Maildir
mail_fsync = optimized
auth_cache_size = 0
auth_mechanisms = plain
mail_max_userip_connections = 10
default_internal_user = dovecot
default_login_user = dovenull
passdb {
  driver = passwd-file
  args = scheme=CRYPT username_format=%u $WORK/dovecot-users
}
userdb {
  driver = passwd
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $DOVECOT_PORT
  }
  inet_listener pop3s {
    port = 0
  }
  service_count = 1
  process_min_avail = 0
  client_limit = 0
}
service pop3 {
  service_count = 1
  process_min_avail = 0
  client_limit = 1
}
EOF
    launch_dovecot "$conf" "$run"
    note "dovecot up: master pid $DOVECOT_PID, pop3 on 127.0.0.1:$DOVECOT_PORT ($(dovecot --version))"
}

# Aviary first: if it cannot start (or build), say so before anything else.
if has_side aviary; then start_aviary; fi
if has_side dovecot; then start_dovecot; fi

# ---------------------------------------------------------------------------------------------
# The runs.
users_csv=$(
    IFS=,
    echo "${BENCH_USERS[*]}"
)
harness_args=(--host 127.0.0.1 --users "$users_csv" --password "$PASSWORD" --clients "$CLIENTS"
    --messages "$MESSAGES" --size "$SIZE" --duration "$DURATION" --source "$SOURCE")
((PERSIST)) && harness_args+=(--persist)

# Idle memory, before any load.
if ((MEMORY)); then
    for side in "${SIDES[@]}"; do
        if [[ $side == dovecot ]]; then pid=$DOVECOT_PID; else pid=$AVIARY_PID; fi
        echo "[$side idle] $(timeout 30 "$MEMORY_SH" -L "$side" -t "$pid" | tail -n 1)"
    done
fi

declare -A OPS SESS P99 LOGIN CONNECT RETR MEMPSS MEMRSS
failures=0
note "load: clients=$CLIENTS users=${#BENCH_USERS[@]} messages=$MESSAGES size=$SIZE duration=${DURATION}s persist=$PERSIST" \
    "source=$SOURCE, repeat=$REPEAT (order alternates), memory=$MEMORY"
for ((round = 1; round <= REPEAT; round++)); do
    order=("${SIDES[@]}")
    if ((round % 2 == 0 && ${#SIDES[@]} == 2)); then order=("${SIDES[1]}" "${SIDES[0]}"); fi
    for side in "${order[@]}"; do
        if [[ $side == dovecot ]]; then port=$DOVECOT_PORT pid=$DOVECOT_PID; else port=$AVIARY_PORT pid=$AVIARY_PID; fi
        kill -0 "$pid" 2>/dev/null || die "$side (master pid $pid) is no longer running"
        bg=$(cpu_busy_pct 3)
        log=$WORK/run-$round-$side.log
        rc=0
        cmd=(timeout $((DURATION + TIMEOUT)) "$THROUGHPUT" --port "$port" "${harness_args[@]}")
        if ((MEMORY)); then
            cmd=(env MAXTIME=$((DURATION + TIMEOUT + 30)) "$MEMORY_SH" -L "$side" -t "$pid" -- "${cmd[@]}")
        fi
        # In the background, so that Ctrl-C or TERM reach the traps at once (cleanup stops it).
        "${cmd[@]}" >"$log" 2>&1 &
        HARNESS_PID=$!
        wait "$HARNESS_PID" || rc=$?
        HARNESS_PID=
        line=$(grep '^pop3 ' "$log" | tail -n 1 || true)
        errors=$(field errors "$line")
        if ((rc != 0)) || [[ -z $line || $errors != 0 ]]; then
            failures=$((failures + 1))
            echo "[$side $round] FAILED (exit $rc, errors=${errors:-?}); last lines of the harness output:"
            grep -E '^(error|fatal|warning)' "$log" | head -n 5 | sed 's/^/    /' || true
            tail -n 3 "$log" | sed 's/^/    /'
        fi
        [[ -n $line ]] || line="pop3 ops_s=NA sessions_s=NA p99_ms=NA"
        echo "[$side $round] $line bg_busy_pct=$bg"
        OPS[$side]+="$(field ops_s "$line") "
        SESS[$side]+="$(field sessions_s "$line") "
        P99[$side]+="$(field p99_ms "$line") "
        LOGIN[$side]+="$(field LOGIN_p50_ms "$line") "
        CONNECT[$side]+="$(field CONNECT_p50_ms "$line") "
        RETR[$side]+="$(field RETR_p50_ms "$line") "
        if ((MEMORY)); then
            mline=$(grep '^memory ' "$log" | tail -n 1 || true)
            echo "[$side $round] ${mline:-memory NA}"
            MEMPSS[$side]+="$(field load_peak_pss_kb "$mline") "
            MEMRSS[$side]+="$(field load_peak_rss_kb "$mline") "
        fi
    done
done

# shellcheck disable=SC2086  # word-split the collected values
summary() { # SIDE: its medians as key=value
    local s=$1
    echo "ops_s=$(median ${OPS[$s]:-}) sessions_s=$(median ${SESS[$s]:-}) p99_ms=$(median ${P99[$s]:-})" \
        "LOGIN_p50_ms=$(median ${LOGIN[$s]:-}) CONNECT_p50_ms=$(median ${CONNECT[$s]:-}) RETR_p50_ms=$(median ${RETR[$s]:-})" \
        "$( ((MEMORY)) && echo "load_peak_pss_kb=$(median ${MEMPSS[$s]:-}) load_peak_rss_kb=$(median ${MEMRSS[$s]:-})")"
}
dv=$(summary dovecot)
av=$(summary aviary)
echo "dovecot: $dv"
echo "aviary:  $av"
echo "(medians of $REPEAT; equal auth: the same yescrypt hashes, no cache; clients from $SOURCE)"
echo "ratio pop3_ops=$(ratio "$(field ops_s "$av")" "$(field ops_s "$dv")")" \
    "sessions=$(ratio "$(field sessions_s "$av")" "$(field sessions_s "$dv")")" \
    "aviary_ops_s=$(field ops_s "$av") dovecot_ops_s=$(field ops_s "$dv")" \
    "aviary_p99_ms=$(field p99_ms "$av") dovecot_p99_ms=$(field p99_ms "$dv")" \
    "aviary_sessions_s=$(field sessions_s "$av") dovecot_sessions_s=$(field sessions_s "$dv")" \
    "aviary_login_p50_ms=$(field LOGIN_p50_ms "$av") dovecot_login_p50_ms=$(field LOGIN_p50_ms "$dv")" \
    "clients=$CLIENTS messages=$MESSAGES size=$SIZE duration=$DURATION persist=$PERSIST repeat=$REPEAT pop3mail_maxproc=$POP3MAIL_MAXPROC"
((failures == 0))
