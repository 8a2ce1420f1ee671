#!/usr/bin/env bash
# Builds Aviary and runs every test: the one command CI runs (.ci/run calls exactly this).
#
#   scripts/test.sh                  install missing Debian packages, check-layers, swift build, swift test
#   scripts/test.sh --filter Queue   extra arguments go to `swift test`
#
# Environment: SKIP_DEPS=1 skips install-deps; TEST_TIMEOUT (seconds, default 3600) bounds `swift test`.
# After the tests, every fuzz target runs FUZZ_SECONDS (default 10) from its seeds (scripts/fuzz.sh all: a
# second build, with sanitizers); SKIP_FUZZ=1 skips that. A fuzz finding counts as one failed test.
# Exits with swift's exit code (1 for a fuzz finding); the last line is a summary: "test.sh: N passed, N failed".
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

started=$SECONDS
stage=install-deps
log=$(mktemp "${TMPDIR:-/tmp}/aviary-test.XXXXXX")
# shellcheck disable=SC2317  # called by the EXIT trap
summary() {
    local rc=$?
    rm -f "$log"
    if [[ $stage != finished ]]; then
        echo "test.sh: FAILED in $stage (exit $rc) after $((SECONDS - started)) s"
    fi
    exit "$rc"
}
trap summary EXIT

if [[ ${SKIP_DEPS:-0} != 1 ]]; then
    "$REPO_ROOT/scripts/install-deps.sh"
fi
ensure_swift

# Package.swift against the imports, and the layers (scripts/check-layers.py has the table): before the
# build, so a sideways import fails in a second instead of after the tests.
stage=check-layers
note "check-layers"
"$REPO_ROOT/scripts/check-layers.py"

stage="swift build"
note "swift build"
swift build

# The accounts tests use as root, made here one after another: suites run in parallel, and two useradd
# runs at once can fail on /etc/passwd's lock. (The tests still create what is missing when run alone.)
if ((EUID == 0)); then
    nologin=/usr/sbin/nologin
    getent passwd aviary >/dev/null ||
        useradd --system --user-group --home-dir /nonexistent --shell "$nologin" aviary
    getent group aviarydrop >/dev/null || groupadd --system aviarydrop
    getent passwd avsubtest >/dev/null ||
        useradd --system --no-create-home --shell "$nologin" --comment "Sub Tester,,," avsubtest
    getent passwd avpoptest >/dev/null ||
        useradd --system --user-group --create-home --home-dir /home/avpoptest --shell "$nologin" \
            --comment "POP3 Tester,,," avpoptest
fi

stage="swift test"
note "swift test $*"
rc=0
timeout --kill-after=30 "${TEST_TIMEOUT:-3600}" swift test "$@" 2>&1 | tee "$log" || rc=${PIPESTATUS[0]}

# Counts from both runners' own lines. XCTest: "Test Case '...' failed|skipped" per test and
# "Executed N tests" per suite (the last one is the total). Swift Testing: "Test run with N tests" and
# "Test NAME() failed after ..." / "Test NAME() skipped" per test.
xctest_total=$(grep -oE 'Executed [0-9]+ tests?' "$log" | tail -n 1 | grep -oE '[0-9]+' || true)
swift_testing_total=$(grep -oE 'Test run with [0-9]+ tests?' "$log" | tail -n 1 | grep -oE '[0-9]+' || true)
failed=$(grep -cE "Test Case '.*' failed|Test [^ ].* failed after" "$log" || true)
failed_runs=$(grep -cE 'Test run with [0-9]+ tests?.* failed after' "$log" || true)
# The name ends in a quote or ")": a test *named* "... skipped" must not count.
skipped=$(grep -cE "Test Case '.*' skipped|Test .*[\")] skipped([.:]|$)" "$log" || true)
failed=$((failed - failed_runs))
total=$((${xctest_total:-0} + ${swift_testing_total:-0}))
passed=$((total - failed - skipped))
((passed >= 0)) || passed=0

# What failed, again at the end, where a CI log that keeps only its tail still shows it.
if grep -qE "recorded an issue|Test Case '.*' failed" "$log"; then
    echo "test.sh: the failures (first 40 lines):"
    grep -E "recorded an issue|Test Case '.*' failed|^ *(↳|XCTAssert)" "$log" | grep -vE "Testing Library Version|Target Platform" |
        head -n 40 | cut -c 1-400 || true
fi
if ((rc == 124 || rc == 137)); then
    echo "test.sh: swift test timed out after ${TEST_TIMEOUT:-3600} s"
fi
echo "test.sh: swift test exited $rc after $((SECONDS - started)) s" \
    "(XCTest ${xctest_total:-none}, Swift Testing ${swift_testing_total:-none})"

# A short run of every fuzz target from its seeds: it catches a parser change that crashes on an input
# already in the corpus, or soon after. The long runs are `scripts/fuzz.sh TARGET SECONDS` by hand.
if [[ ${SKIP_FUZZ:-0} != 1 ]]; then
    stage="fuzz"
    fuzz_started=$SECONDS
    fuzz_rc=0
    "$REPO_ROOT/scripts/fuzz.sh" all "${FUZZ_SECONDS:-10}" || fuzz_rc=$?
    echo "test.sh: fuzz exited $fuzz_rc after $((SECONDS - fuzz_started)) s"
    if ((fuzz_rc != 0)); then
        failed=$((failed + 1))
        total=$((total + 1))
        ((rc != 0)) || rc=$fuzz_rc
    fi
fi
stage=finished
if ((rc != 0 && failed == 0)); then
    failed=1 # a crash or a failure the runners did not count as a test: never report "0 failed"
fi
if ((skipped > 0)); then
    echo "test.sh: $passed passed, $failed failed, $skipped skipped"
else
    echo "test.sh: $passed passed, $failed failed"
fi
exit "$rc"
