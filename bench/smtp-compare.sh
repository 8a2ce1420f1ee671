#!/usr/bin/env bash
# bench/smtp-compare.sh — SMTP throughput of Aviary and of Postfix, on this machine, in one run.
#
# Both servers get the same load from the shared harness (../shared/bench/smtp-throughput.sh:
# Postfix's smtp-source, N messages of L bytes over S sessions, M messages per connection) and deliver
# to the same place, bench@localhost -> /home/bench/Maildir/ (home_mailbox = Maildir/), so accept
# and end-to-end rates compare directly. Equal durability: Postfix fsyncs each queue file before its
# 250 and each Maildir delivery (hard-wired), Aviary always does the same. Both log nothing (no
# syslog daemon here; Aviary's maillog_file = /dev/null).
#
#   sudo bench/smtp-compare.sh                      N=5000 S=10 M=1, Postfix then Aviary, once
#   sudo bench/smtp-compare.sh -n 2000 -m 100 -r 3  3 rounds, interleaved; medians are compared
#   sudo bench/smtp-compare.sh --only postfix       one side only (the ratio is then NA)
#
# Options (or environment variables): -n N (5000) -s S (10) -m M (1) -l L payload bytes (2048)
# -r REPEAT (1) -T TIMEOUT seconds per run (300) --only postfix|aviary.
# Environment: SHARED_BENCH (default: ../shared/bench beside the repository), POSTFIX_PORT (2526),
# AVIARY_PORT (2525), AVIARY_LOG (/dev/null; a file path keeps Aviary's log), SKIP_BUILD=1 (use the
# existing .build/release), AVIARY_BIN_DIR (run the programs of another build; implies no build),
# KEEP=1 (keep the temporary instances' directory), AVIARY_MAIN_CF_EXTRA (lines added to Aviary's main.cf,
# for experiments: AVIARY_MAIN_CF_EXTRA='max_use = 1000').
#
# Needs root: it creates the user bench if missing, empties /home/bench/Maildir, runs a private
# Postfix instance (its own config and queue under a temporary directory, 127.0.0.1:$POSTFIX_PORT; the
# system's Postfix is not touched) and Aviary's master as root (aviary start -c DIR). Both are stopped
# at the end, whatever happens. Last line of output:
#   ratio e2e=X accept=Y aviary_e2e_mps=.. postfix_e2e_mps=.. aviary_accept_mps=.. postfix_accept_mps=..
#         aviary_cpu_us_per_msg=.. postfix_cpu_us_per_msg=.. ...
# Each run also prints the server's CPU per message (all its processes, user + system, smtp-source not
# included) in total and by program.
# with X, Y = Aviary / Postfix. Exit 0 when every run succeeded, 1 otherwise.
set -euo pipefail
export LC_ALL=C
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N=${N:-5000}
S=${S:-10}
M=${M:-1}
L=${L:-2048}
REPEAT=${REPEAT:-1}
TIMEOUT=${TIMEOUT:-300}
ONLY=${ONLY:-both}
SHARED_BENCH=${SHARED_BENCH:-$REPO_ROOT/../shared/bench}
POSTFIX_PORT=${POSTFIX_PORT:-2526}
AVIARY_PORT=${AVIARY_PORT:-2525}
AVIARY_LOG=${AVIARY_LOG:-/dev/null}
BENCH_USER=bench
RCPT=$BENCH_USER@localhost
MAILDIR=/home/$BENCH_USER/Maildir

while (($# > 0)); do
    case $1 in
        -n) N=$2; shift ;;
        -s) S=$2; shift ;;
        -m) M=$2; shift ;;
        -l) L=$2; shift ;;
        -r) REPEAT=$2; shift ;;
        -T) TIMEOUT=$2; shift ;;
        --only) ONLY=$2; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 1 ;;
    esac
    shift
done
for v in N S M L REPEAT TIMEOUT POSTFIX_PORT AVIARY_PORT; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
done
case $ONLY in
    both) SIDES=(postfix aviary) ;;
    postfix | aviary) SIDES=("$ONLY") ;;
    *) die "--only takes postfix or aviary, not '$ONLY'" ;;
esac

[[ $EUID -eq 0 ]] || die "run as root (sudo $0): it empties $MAILDIR and starts both servers as root"
THROUGHPUT=$SHARED_BENCH/smtp-throughput.sh
[[ -x $THROUGHPUT ]] || die "$THROUGHPUT not found; set SHARED_BENCH to the shared bench/ directory"
THROUGHPUT=$(realpath "$THROUGHPUT")

# ---------------------------------------------------------------------------------------------
# Clean-up: stop what this script started (by pid), remove its directory. Runs on every exit.
WORK=
POSTFIX_PID=
AVIARY_PID=
AVIARY=
HARNESS_PID=

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    local rc=$? children
    trap - EXIT INT TERM
    if [[ -n $HARNESS_PID ]]; then
        kill -TERM "$HARNESS_PID" 2>/dev/null || true # timeout passes it on to the harness
        wait_gone "$HARNESS_PID" 10 || kill -KILL "$HARNESS_PID" 2>/dev/null || true
    fi
    if [[ -n $AVIARY_PID ]]; then
        note "stopping aviary"
        children=$(pgrep -P "$AVIARY_PID" || true)
        timeout 30 "$AVIARY" stop -c "$WORK/aviary-etc" >/dev/null 2>&1 || true
        # shellcheck disable=SC2086  # a list of pids
        stop_pid aviary "$AVIARY_PID" $children
    fi
    if [[ -n $POSTFIX_PID ]]; then
        note "stopping postfix instance"
        children=$(pgrep -P "$POSTFIX_PID" || true)
        timeout 30 postfix -c "$WORK/postfix-etc" stop >/dev/null 2>&1 || true
        # shellcheck disable=SC2086
        stop_pid postfix "$POSTFIX_PID" $children
    fi
    if [[ -d $MAILDIR ]]; then
        find "$MAILDIR/new" "$MAILDIR/cur" "$MAILDIR/tmp" -mindepth 1 -maxdepth 1 -type f -delete 2>/dev/null || true
    fi
    if [[ -n $WORK && -d $WORK ]]; then
        if [[ ${KEEP:-0} == 1 ]]; then
            note "kept $WORK"
        else
            rm -rf -- "$WORK"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# Prerequisites: packages (smtp-source comes with postfix), the aviary mail_owner, the bench user.
if has_side aviary; then
    "$REPO_ROOT/scripts/install-deps.sh" --system-user # Aviary's services run as mail_owner aviary
else
    "$REPO_ROOT/scripts/install-deps.sh"
fi
if ! id "$BENCH_USER" >/dev/null 2>&1; then
    note "creating user $BENCH_USER"
    useradd -m -s /bin/bash "$BENCH_USER"
fi
install -d -o "$BENCH_USER" -g "$(id -gn "$BENCH_USER")" -m 700 \
    "$MAILDIR" "$MAILDIR/new" "$MAILDIR/cur" "$MAILDIR/tmp"

# Both instances live on the filesystem of /var (never a tmpfs: fsync must cost what it costs).
WORK=$(mktemp -d /var/tmp/smtp-compare.XXXXXX)
chmod 755 "$WORK"

# ---------------------------------------------------------------------------------------------
# Aviary: release build, config in $WORK/aviary-etc, master started as root.
start_aviary() {
    build_aviary aviary master smtpd qmgr local
    port_in_use "$AVIARY_PORT" && die "port $AVIARY_PORT is in use (ss -ltnp 'sport = :$AVIARY_PORT'); stop that first"

    local etc=$WORK/aviary-etc
    mkdir -p "$etc"
    cat >"$etc/main.cf" <<EOF
# smtp-compare.sh: Aviary, configured like the Postfix instance beside it.
queue_directory = $WORK/aviary-spool
myhostname = mail.test
mydestination = localhost
mynetworks = 127.0.0.0/8
home_mailbox = Maildir/
alias_maps = hash:$etc/aliases
maillog_file = $AVIARY_LOG
${AVIARY_MAIN_CF_EXTRA:-}
EOF
    cat >"$etc/master.cf" <<EOF
127.0.0.1:$AVIARY_PORT inet n - n - - smtpd
qmgr unix n - n 300 1 qmgr
local unix - n n - - local
EOF
    printf 'postmaster: root\n' >"$etc/aliases"

    launch_aviary "$etc" smtp-compare
    note "aviary up: master pid $AVIARY_PID, smtpd on 127.0.0.1:$AVIARY_PORT"
}

# ---------------------------------------------------------------------------------------------
# Postfix: a private instance, the settings of ../shared/bench/setup-anchors.sh on Debian's
# defaults (main.cf.debian), its own config, queue and data directories, no chroot.
start_postfix() {
    command -v postfix >/dev/null || die "postfix is not installed"
    port_in_use "$POSTFIX_PORT" && die "port $POSTFIX_PORT is in use (ss -ltnp 'sport = :$POSTFIX_PORT'); stop that first"
    local etc=$WORK/postfix-etc spool=$WORK/postfix-spool data=$WORK/postfix-data
    mkdir -p "$etc" "$spool"
    install -d -o postfix -g postfix -m 700 "$data"
    cat >"$etc/main.cf" <<EOF
# smtp-compare.sh: a private Postfix instance. Debian's defaults (main.cf.debian) plus the
# settings of shared/bench/setup-anchors.sh; TLS off (the benchmark uses none).
compatibility_level = 3.6
biff = no
append_dot_mydomain = no
readme_directory = no
queue_directory = $spool
data_directory = $data
myhostname = mail.test
myorigin = \$myhostname
mydestination = localhost
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
home_mailbox = Maildir/
mailbox_size_limit = 0
recipient_delimiter = +
alias_maps = hash:$etc/aliases
alias_database = hash:$etc/aliases
maillog_file =
EOF
    # Debian's master.cf, without chroot (nothing is copied into the queue directory) and with smtpd
    # on 127.0.0.1:$POSTFIX_PORT instead of port 25.
    awk -v port="127.0.0.1:$POSTFIX_PORT" '
        /^smtp[ \t]+inet[ \t]/ { print port "  inet  n       -       n       -       -       smtpd"; next }
        /^[a-z]/ && NF >= 8 && $5 == "y" { $5 = "n" }
        { print }
    ' /etc/postfix/master.cf.proto >"$etc/master.cf"
    grep -q "^127.0.0.1:$POSTFIX_PORT " "$etc/master.cf" || die "could not place smtpd on port $POSTFIX_PORT"
    printf 'postmaster: root\n' >"$etc/aliases"
    postalias -c "$etc" "$etc/aliases"
    note "postfix -c $etc start"
    postfix -c "$etc" check >/dev/null 2>&1 || true # creates the queue tree
    postfix -c "$etc" start >"$WORK/postfix-start.log" 2>&1 || {
        cat "$WORK/postfix-start.log" >&2
        die "postfix did not start"
    }
    local deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)) && [[ ! -s $spool/pid/master.pid ]]; do sleep 0.2; done
    POSTFIX_PID=$(tr -dc '0-9' <"$spool/pid/master.pid" 2>/dev/null || true)
    [[ -n $POSTFIX_PID ]] || die "postfix wrote no pid file"
    wait_for_port 127.0.0.1 "$POSTFIX_PORT" 30 || die "postfix does not listen on 127.0.0.1:$POSTFIX_PORT"
    note "postfix up: master pid $POSTFIX_PID, smtpd on 127.0.0.1:$POSTFIX_PORT"
}

# Aviary first: if it cannot start, say so before spending minutes on Postfix.
if has_side aviary; then start_aviary; fi
if has_side postfix; then start_postfix; fi

# ---------------------------------------------------------------------------------------------
# The runs.
declare -A ACCEPT E2E CPU
failures=0
note "load: n=$N s=$S m=$M l=$L to $RCPT, repeat=$REPEAT, timeout=${TIMEOUT}s per run"
for ((round = 1; round <= REPEAT; round++)); do
    for side in "${SIDES[@]}"; do
        if [[ $side == postfix ]]; then port=$POSTFIX_PORT; else port=$AVIARY_PORT; fi
        bg=$(cpu_busy_pct 3)
        if [[ $side == postfix ]]; then server_pid=$POSTFIX_PID; else server_pid=$AVIARY_PID; fi
        cpu_before=$(cpu_ticks "$server_pid")
        log=$WORK/run-$round-$side.log
        rc=0
        # In the background, so that Ctrl-C or TERM reach the traps at once (cleanup stops it).
        timeout $((TIMEOUT + 180)) "$THROUGHPUT" -H 127.0.0.1 -P "$port" -t "$RCPT" -d "$MAILDIR" \
            -n "$N" -s "$S" -m "$M" -l "$L" -T "$TIMEOUT" >"$log" 2>&1 &
        HARNESS_PID=$!
        wait "$HARNESS_PID" || rc=$?
        HARNESS_PID=
        line=$(grep '^smtp ' "$log" | tail -n 1 || true)
        if ((rc != 0)) || [[ -z $line ]]; then
            failures=$((failures + 1))
            echo "[$side $round] FAILED (exit $rc); last lines of the harness output:"
            tail -n 5 "$log" | sed 's/^/    /'
        fi
        [[ -n $line ]] || line="smtp accept_mps=NA e2e_mps=NA"
        cpu=$(cpu_per_message "$cpu_before" "$(cpu_ticks "$server_pid")" "$N")
        echo "[$side $round] $line bg_busy_pct=$bg"
        echo "[$side $round] cpu_us_per_msg $cpu"
        CPU[$side]+="$(field total "$cpu") "
        ACCEPT[$side]+="$(field accept_mps "$line") "
        E2E[$side]+="$(field e2e_mps "$line") "
    done
done

# shellcheck disable=SC2086  # word-split the collected values
{
    pf_acc=$(median ${ACCEPT[postfix]:-})
    pf_e2e=$(median ${E2E[postfix]:-})
    av_acc=$(median ${ACCEPT[aviary]:-})
    av_e2e=$(median ${E2E[aviary]:-})
}
echo "postfix: accept_mps=$pf_acc e2e_mps=$pf_e2e   aviary: accept_mps=$av_acc e2e_mps=$av_e2e" \
    "(median of $REPEAT; durability equal: both fsync queue file and Maildir file)"
# shellcheck disable=SC2086
echo "ratio e2e=$(ratio "$av_e2e" "$pf_e2e") accept=$(ratio "$av_acc" "$pf_acc")" \
    "aviary_e2e_mps=$av_e2e postfix_e2e_mps=$pf_e2e aviary_accept_mps=$av_acc postfix_accept_mps=$pf_acc" \
    "aviary_cpu_us_per_msg=$(median ${CPU[aviary]:-}) postfix_cpu_us_per_msg=$(median ${CPU[postfix]:-})" \
    "n=$N s=$S m=$M l=$L repeat=$REPEAT"
((failures == 0))
