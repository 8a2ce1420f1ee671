#!/usr/bin/env bash
# Fuzzes Aviary's parsers with libFuzzer (the package in Fuzz/, built with -sanitize=fuzzer,address).
#
#   scripts/fuzz.sh list                   the targets (one per parser fed by the network or by users)
#   scripts/fuzz.sh build                  build the fuzzer only (.build/fuzz; the first build takes minutes)
#   scripts/fuzz.sh TARGET SECONDS [ARG]   fuzz one target; extra arguments go to libFuzzer
#   scripts/fuzz.sh all SECONDS            fuzz every target in turn, SECONDS each
#   scripts/fuzz.sh repro TARGET FILE...   run saved inputs once (a crash prints its stack)
#
# Each run starts from a copy of Fuzz/Corpus/TARGET (the committed seeds are never changed) with
# -rss_limit_mb=2048 -timeout=10 -max_len=$FUZZ_MAX_LEN (default 8192), and ends with a line
#   fuzz.sh: TARGET: 60 s, 1234567 runs, 20576 exec/s, cov 1234, ft 2345, corpus 345 inputs, peak rss 120 MB: ok
# A crash, a failed invariant, a timeout (an input taking over 10 s) or memory over the limit fails the run:
# the input is kept under the work directory printed, and the script exits 1 after the other targets.
#
# Environment: FUZZ_WORKDIR (default a new directory under ${TMPDIR:-/tmp}, removed after a clean run),
# FUZZ_KEEP=1 keeps it (its corpus/ then holds every input found, to add to the seeds by hand).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

scratch="$REPO_ROOT/.build/fuzz"
corpora="$REPO_ROOT/Fuzz/Corpus"

targets() {
    find "$corpora" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort
}

build() {
    ensure_swift
    note "building the fuzzer (release, -sanitize=fuzzer,address) in $scratch"
    local started=$SECONDS
    swift build -c release --package-path "$REPO_ROOT/Fuzz" --scratch-path "$scratch" --product AviaryFuzz \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library >&2
    note "fuzzer built in $((SECONDS - started)) s"
    binary="$(swift build -c release --package-path "$REPO_ROOT/Fuzz" --scratch-path "$scratch" --show-bin-path)/AviaryFuzz"
    [[ -x $binary ]] || die "no fuzzer binary at $binary"
    # The targets the binary knows must be the ones with a corpus, and the other way round.
    local known
    known=$(AVIARY_FUZZ_TARGET=list "$binary" 2>/dev/null | cut -f1 | sort)
    [[ $known == "$(targets)" ]] || die "targets in the fuzzer ($(echo $known)) differ from Fuzz/Corpus ($(echo $(targets)))"
}

# run TARGET SECONDS [ARG...]: one libFuzzer run; prints the summary line; returns libFuzzer's status.
run() {
    local target=$1 seconds=$2
    shift 2
    [[ -d $corpora/$target ]] || die "unknown target $target (scripts/fuzz.sh list)"
    local work
    if [[ -n ${FUZZ_WORKDIR:-} ]]; then
        work="$FUZZ_WORKDIR/$target"
        mkdir -p "$work"
    else
        work=$(mktemp -d "${TMPDIR:-/tmp}/aviary-fuzz-$target.XXXXXX")
    fi
    mkdir -p "$work/corpus" "$work/artifacts"
    cp "$corpora/$target"/* "$work/corpus/"
    note "fuzzing $target for $seconds s in $work"
    local rc=0
    AVIARY_FUZZ_TARGET=$target "$binary" "$work/corpus" \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len="${FUZZ_MAX_LEN:-8192}" \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$@" >"$work/fuzz.log" 2>&1 || rc=$?
    local last stats runs rate peak cov ft corpus
    last=$(grep -E '^#[0-9]+' "$work/fuzz.log" | tail -n 1 || true)
    cov=$(grep -oE 'cov: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || echo '?')
    ft=$(grep -oE 'ft: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || echo '?')
    stats=$(grep -E '^stat::' "$work/fuzz.log" || true)
    runs=$(awk '/stat::number_of_executed_units/ {print $2}' <<<"$stats")
    rate=$(awk '/stat::average_exec_per_sec/ {print $2}' <<<"$stats")
    peak=$(awk '/stat::peak_rss_mb/ {print $2}' <<<"$stats")
    corpus=$(find "$work/corpus" -type f | wc -l)
    local verdict=ok
    if ((rc != 0)); then
        verdict="FAILED (libFuzzer exit $rc)"
        grep -E 'ERROR: |SUMMARY: |fuzz invariant|Fatal error|timeout|out-of-memory|Test unit written' \
            "$work/fuzz.log" | head -n 20 >&2 || true
        echo "fuzz.sh: $target: input and log kept in $work (artifacts/, fuzz.log);" \
            "reproduce: scripts/fuzz.sh repro $target $work/artifacts/*" >&2
    fi
    echo "fuzz.sh: $target: $seconds s, ${runs:-?} runs, ${rate:-?} exec/s, cov $cov, ft $ft," \
        "corpus $corpus inputs, peak rss ${peak:-?} MB: $verdict"
    if ((rc == 0)) && [[ ${FUZZ_KEEP:-0} != 1 && -z ${FUZZ_WORKDIR:-} ]]; then
        rm -rf "$work"
    fi
    return "$rc"
}

command=${1:-}
case $command in
list)
    targets
    ;;
build)
    build
    ;;
repro)
    (($# >= 3)) || die "usage: scripts/fuzz.sh repro TARGET FILE..."
    build
    target=$2
    shift 2
    AVIARY_FUZZ_TARGET=$target "$binary" -rss_limit_mb=2048 -timeout=10 "$@"
    ;;
all)
    (($# >= 2)) || die "usage: scripts/fuzz.sh all SECONDS"
    seconds=$2
    shift 2
    build
    failed=()
    for target in $(targets); do
        run "$target" "$seconds" "$@" || failed+=("$target")
    done
    if ((${#failed[@]} > 0)); then
        echo "fuzz.sh: ${#failed[@]} of $(targets | wc -l) targets failed: ${failed[*]}"
        exit 1
    fi
    echo "fuzz.sh: all $(targets | wc -l) targets ran $seconds s each without a finding"
    ;;
"" | -h | --help | help)
    usage
    ;;
*)
    (($# >= 2)) || die "usage: scripts/fuzz.sh TARGET SECONDS (scripts/fuzz.sh list names the targets)"
    target=$1
    seconds=$2
    shift 2
    build
    run "$target" "$seconds" "$@" || exit 1
    ;;
esac
