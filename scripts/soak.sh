#!/usr/bin/env bash
# Crash soak: builds Aviary and runs scripts/soak.py: mail from smtplib, swaks, sendmail (and smtp-source)
# while smtpd, qmgr, local, smtp, pickup and master are killed with SIGKILL at random moments; then checks
# that every message a client saw 250 for was delivered exactly once and the queue is empty.
#
#   scripts/soak.sh                    20 kills (the default), at most 300 s of load
#   scripts/soak.sh --rounds 100       more kills; any option of scripts/soak.py --help
#
# Prints one JSON line of counts; exits 1 when a promise was broken (the instance is kept for inspection).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"
case ${1:-} in -h | --help)
    usage
    python3 scripts/soak.py --help
    exit 0
    ;;
esac
ensure_swift
note "swift build"
swift build >&2
exec python3 scripts/soak.py --binaries "$REPO_ROOT/.build/debug" "$@"
