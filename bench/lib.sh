# shellcheck shell=bash
# bench/lib.sh: what the comparison scripts share (sourced after scripts/common.sh, which gives note).

# has_side NAME: whether NAME is among the servers this run measures ($SIDES).
has_side() { [[ " ${SIDES[*]} " == *" $1 "* ]]; }

# wait_gone PID SECONDS: wait until the process has exited; false on timeout.
wait_gone() {
    local pid=$1 deadline=$((SECONDS + $2))
    while kill -0 "$pid" 2>/dev/null; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

# descendants PID: every process below PID (children, grandchildren, ...).
descendants() {
    local p
    for p in $(pgrep -P "$1" || true); do
        echo "$p"
        descendants "$p"
    done
}

# stop_pid NAME PID OTHERS...: after a clean stop was asked for, make sure PID and the processes it had
# below it before (its services, which may outlive a master that died) are gone: TERM, then KILL.
stop_pid() {
    local name=$1 pid=$2 left=() p
    shift 2
    wait_gone "$pid" 15 || note "$name (pid $pid) did not stop; sending TERM"
    for p in "$pid" "$@"; do
        kill -0 "$p" 2>/dev/null && left+=("$p")
    done
    ((${#left[@]} > 0)) || return 0
    kill -TERM "${left[@]}" 2>/dev/null || true
    for p in "${left[@]}"; do
        wait_gone "$p" 10 || kill -KILL "$p" 2>/dev/null || true
    done
}

# cpu_busy_pct SECONDS: the machine's CPU use over the next SECONDS (others' load, before ours).
cpu_busy_pct() {
    local u n s i w q sq st b0 t0
    read -r _ u n s i w q sq st _ </proc/stat
    b0=$((u + n + s + q + sq + st))
    t0=$((b0 + i + w))
    sleep "$1"
    read -r _ u n s i w q sq st _ </proc/stat
    local busy=$((u + n + s + q + sq + st))
    local total=$((busy + i + w))
    echo $((100 * (busy - b0) / (total - t0 > 0 ? total - t0 : 1)))
}

# cpu_ticks PID: "program ticks" for PID and every process below it, ticks being user + system time including
# reaped children's (so a process that exited during a run counts in its parent's line), in 1/CLK_TCK s.
cpu_ticks() {
    local p
    for p in "$1" $(descendants "$1"); do
        # comm is in parentheses and may hold spaces: take what follows the last ')'.
        sed -E 's/^[0-9]+ \((.*)\) (.*)$/\1\t\2/' "/proc/$p/stat" 2>/dev/null |
            awk -F'\t' '{ gsub(/ /, "_", $1); split($2, f, " "); print $1, f[12] + f[13] + f[14] + f[15] }' || true
    done
}

# cpu_per_message BEFORE AFTER MESSAGES: from two cpu_ticks listings, microseconds of CPU per message in
# total and by program: "total=U by_program=smtpd:U,qmgr:U,...". A process that exited during the run counts
# in its parent's program (master's, for a service), so by program is approximate; the total is exact.
cpu_per_message() {
    awk -v n="$3" -v hz="$(getconf CLK_TCK)" '
        FNR == NR { before[$1] += $2; total -= $2; next }
        { after[$1] += $2; total += $2 }
        END {
            for (p in after) { d = after[p] - before[p]; if (d > 0) used[p] = d }
            out = ""
            for (p in used) out = out (out == "" ? "" : ",") p ":" int(used[p] * 1e6 / hz / n)
            printf "total=%d by_program=%s\n", total * 1e6 / hz / n, out
        }' <(echo "$1") <(echo "$2")
}

# field NAME LINE: the value of NAME=value in a result line.
field() {
    sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" <<<" $2"
}

# median VALUES...: the median of numbers, NA when there are none or one is NA.
median() {
    (($# > 0)) || { echo NA; return; }
    local v
    for v in "$@"; do [[ $v =~ ^[0-9.]+$ ]] || { echo NA; return; }; done
    printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}

# ratio A B: A / B with two decimals, NA when either is NA.
ratio() {
    if [[ $1 == NA || $2 == NA ]]; then echo NA; else awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0) ? a / b : 0}'; fi
}

# The EXIT trap of pop3-compare.sh and imap-compare.sh: stops what the script started (by the pids in
# HARNESS_PID, AVIARY_PID and DOVECOT_PID, with AVIARY the aviary program and WORK the run's directory) and
# removes WORK unless KEEP=1.
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup_dovecot_and_aviary() {
    local rc=$? below
    trap - EXIT INT TERM
    if [[ -n $HARNESS_PID ]]; then
        # timeout passes TERM on to the harness; its client processes are its children
        below=$(descendants "$HARNESS_PID")
        kill -TERM "$HARNESS_PID" 2>/dev/null || true
        wait_gone "$HARNESS_PID" 10 || kill -KILL "$HARNESS_PID" 2>/dev/null || true
        # shellcheck disable=SC2086  # a list of pids
        [[ -z $below ]] || kill -KILL $below 2>/dev/null || true
    fi
    if [[ -n $AVIARY_PID ]]; then
        note "stopping aviary"
        below=$(descendants "$AVIARY_PID")
        timeout 30 "$AVIARY" stop -c "$WORK/aviary-etc" >/dev/null 2>&1 || true
        # shellcheck disable=SC2086
        stop_pid aviary "$AVIARY_PID" $below
    fi
    if [[ -n $DOVECOT_PID ]]; then
        note "stopping dovecot instance"
        below=$(descendants "$DOVECOT_PID")
        timeout 30 dovecot -c "$WORK/dovecot.conf" stop >/dev/null 2>&1 || kill -TERM "$DOVECOT_PID" 2>/dev/null || true
        # shellcheck disable=SC2086
        stop_pid dovecot "$DOVECOT_PID" $below
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

# is_installed PACKAGE: whether the Debian package is installed.
is_installed() {
    [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null) == "ii"* ]]
}

# install_private_dovecot PACKAGE: installs Dovecot's PACKAGE (dovecot-pop3d, dovecot-imapd) when missing and
# keeps the system's Dovecot stopped and disabled: the comparisons run their own instance.
install_private_dovecot() {
    is_installed "$1" && return 0
    note "installing $1"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -q </dev/null >/dev/null
    timeout 900 apt-get install -y -q -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef \
        -o Dpkg::Options::=--force-confold "$1" </dev/null
    is_installed "$1" || die "$1 is still not installed"
    # The package may start the system's Dovecot (110/143/993/995): the benchmark runs its own instance.
    if [[ -d /run/systemd/system ]]; then
        systemctl disable --now dovecot.service dovecot.socket >/dev/null 2>&1 || true
    else
        timeout 60 invoke-rc.d dovecot stop >/dev/null 2>&1 || true
        update-rc.d dovecot disable >/dev/null 2>&1 || true
    fi
}

# build_aviary PROGRAMS...: the release build (made unless SKIP_BUILD=1 finds every program, or
# AVIARY_BIN_DIR names another build); sets AVIARY to its aviary program.
build_aviary() {
    ensure_swift
    local bin_dir=${AVIARY_BIN_DIR:-$REPO_ROOT/.build/release} program missing=0
    for program in "$@"; do
        [[ -x $bin_dir/$program ]] || missing=1
    done
    if [[ -z ${AVIARY_BIN_DIR:-} ]] && { [[ ${SKIP_BUILD:-0} != 1 ]] || ((missing)); }; then
        note "swift build -c release"
        local owner
        owner=$(stat -c %U "$REPO_ROOT")
        if [[ -n ${SUDO_USER:-} && $owner == "$SUDO_USER" && $owner != root ]]; then
            # Build as the repository's owner: a root-owned .build would break their next build.
            (cd "$REPO_ROOT" && timeout 1800 sudo -u "$SUDO_USER" -H env PATH="$PATH" swift build -c release)
        else
            (cd "$REPO_ROOT" && timeout 1800 swift build -c release)
        fi
    fi
    AVIARY=$bin_dir/aviary
    for program in "$@"; do
        [[ -x $bin_dir/$program ]] || die "$bin_dir/$program is missing; build failed?"
    done
}

# launch_aviary ETC SCRIPT: `aviary start -c ETC` (queue in $WORK/aviary-spool), waits for master's pid file
# and 127.0.0.1:$AVIARY_PORT; sets AVIARY_PID. On failure says why (as SCRIPT) and exits.
launch_aviary() {
    local etc=$1 script=$2
    note "aviary start -c $etc"
    local rc=0
    timeout 60 "$AVIARY" start -c "$etc" >"$WORK/aviary-start.log" 2>&1 || rc=$?
    local pid_file=$WORK/aviary-spool/pid/master.pid deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)) && [[ ! -s $pid_file ]]; do sleep 0.2; done
    if [[ -s $pid_file ]]; then
        AVIARY_PID=$(tr -dc '0-9' <"$pid_file")
    fi
    if ((rc != 0)) || [[ -z $AVIARY_PID ]] || ! kill -0 "$AVIARY_PID" 2>/dev/null ||
        ! wait_for_port 127.0.0.1 "$AVIARY_PORT" 30; then
        {
            echo "$script: Aviary did not start (aviary start exited $rc; master pid '${AVIARY_PID:-none}')."
            echo "--- aviary start output:"
            cat "$WORK/aviary-start.log"
            echo "--- aviary status:"
            timeout 10 "$AVIARY" status -c "$etc" 2>&1 || true
            [[ -f $WORK/aviary-spool/pid/master.listeners ]] && {
                echo "--- master.listeners:"
                cat "$WORK/aviary-spool/pid/master.listeners"
            }
            [[ $AVIARY_LOG != /dev/null && -f $AVIARY_LOG ]] && {
                echo "--- last lines of $AVIARY_LOG:"
                tail -n 30 "$AVIARY_LOG"
            }
            echo "(rerun with AVIARY_LOG=/tmp/aviary.log KEEP=1 to keep the log and the instance)"
        } >&2
        exit 1
    fi
}

# launch_dovecot CONF RUNDIR: `dovecot -c CONF`, waits for RUNDIR/master.pid and 127.0.0.1:$DOVECOT_PORT;
# sets DOVECOT_PID.
launch_dovecot() {
    local conf=$1 run=$2
    note "dovecot -c $conf"
    timeout 30 dovecot -c "$conf" </dev/null >"$WORK/dovecot-start.log" 2>&1 || {
        cat "$WORK/dovecot-start.log" >&2
        die "dovecot did not start"
    }
    local deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)) && [[ ! -s $run/master.pid ]]; do sleep 0.2; done
    DOVECOT_PID=$(tr -dc '0-9' <"$run/master.pid" 2>/dev/null || true)
    [[ -n $DOVECOT_PID ]] || die "dovecot wrote no pid file ($run/master.pid)"
    wait_for_port 127.0.0.1 "$DOVECOT_PORT" 30 || die "dovecot does not listen on 127.0.0.1:$DOVECOT_PORT"
}
