# shellcheck shell=bash
# Helpers shared by scripts/*.sh and bench/*.sh. Source it; it defines functions and REPO_ROOT only.

# shellcheck disable=SC2034  # used by the scripts that source this file
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# die MESSAGE: print "<script>: MESSAGE" on stderr and exit 1.
die() {
    echo "$(basename "$0"): $*" >&2
    exit 1
}

# usage: print the calling script's header comment (line 2 up to `set -euo pipefail`) as its help.
usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

# note MESSAGE: progress on stderr, so stdout stays for results.
note() {
    echo "==> $*" >&2
}

# as_root COMMAND...: run a command as root, through sudo when we are not root.
as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root for: $* (run as root, or install sudo)"
    fi
}

# ensure_swift: put the toolchain on PATH (Swift lives in /opt/swift on this project's machines).
ensure_swift() {
    if ! command -v swift >/dev/null 2>&1; then
        local dir
        for dir in "${SWIFT_HOME:-/opt/swift}/usr/bin" /opt/swift/usr/bin /usr/share/swift/usr/bin; do
            if [[ -x $dir/swift ]]; then
                PATH="$dir:$PATH"
                export PATH
                break
            fi
        done
    fi
    command -v swift >/dev/null 2>&1 || die "swift not found: install Swift 6 (https://swift.org) or set SWIFT_HOME"
}

# port_in_use PORT: whether something listens on TCP PORT (any local address).
port_in_use() {
    [[ -n $(ss -Htln "sport = :$1" 2>/dev/null) ]]
}

# wait_for_port HOST PORT SECONDS: wait until HOST:PORT accepts a connection; false on timeout.
wait_for_port() {
    local host=$1 port=$2 deadline=$((SECONDS + $3))
    while ((SECONDS < deadline)); do
        if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}
