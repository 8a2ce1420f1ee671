#!/usr/bin/env bash
# Installs the Debian packages Aviary's build, tests, demo and benchmark use, and nothing that is
# already there. Idempotent and non-interactive (CI runs it as root without a terminal); uses sudo when
# not root, and needs no root at all when nothing is missing.
#
#   scripts/install-deps.sh                 packages only (everything the tests and benchmarks use)
#   scripts/install-deps.sh --demo          only what building and trying the demo need (the build's
#                                           libraries, and swaks, curl and nc for talking to it)
#   scripts/install-deps.sh --system-user   also the `aviary` system account (mail_owner), which a
#                                           root-started master needs; the demo and tests do not
#
# postfix is installed for smtp-source/smtp-sink and the benchmark only: it is preseeded to
# "No configuration" and, if this script installed it, its service is stopped and disabled.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PACKAGES=(
    swaks postfix dnsmasq-base python3 openssl libssl-dev libsasl2-dev libsasl2-modules sasl2-bin libcrypt-dev
    mailutils fetchmail getmail6 netcat-openbsd
    dovecot-imapd dovecot-pop3d isync neomutt python3-pip pflogsumm
    procps iproute2 curl ca-certificates
    python3-yaml python3-spf python3-authres python3-dkim  # SPF and DKIM cross-checks: RFC 7208 suite, pyspf, authres, dkimpy
    publicsuffix opendmarc  # the Public Suffix List DMARC reads; opendmarc-check reads DMARC records beside Aviary
    postgrey postfix-policyd-spf-python  # policy servers smtpd's check_policy_service is tested with
    opendkim opendkim-tools spamass-milter spamd python3-milter  # milters for smtpd_milters: OpenDKIM, spamass-milter + spamd, pymilter (libmilter)
)
# The build's libraries and tools, and the clients the demo's instructions use.
DEMO_PACKAGES=(
    openssl libssl-dev libsasl2-dev libsasl2-modules sasl2-bin libcrypt-dev zlib1g-dev ca-certificates
    swaks curl netcat-openbsd procps iproute2
)
MAIL_OWNER=aviary

want_system_user=0
want_test_tools=1
for arg in "$@"; do
    case $arg in
        --system-user) want_system_user=1 ;;
        --demo)
            PACKAGES=("${DEMO_PACKAGES[@]}")
            want_test_tools=0
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *) die "unknown argument '$arg' (try --help)" ;;
    esac
done

is_installed() {
    [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null) == "ii"* ]]
}

# Stops and disables the postfix service that the package may have started; Aviary's tests and demo
# must not meet a system MTA, and the benchmark runs its own Postfix instance.
quiesce_postfix() {
    if [[ -d /run/systemd/system ]]; then
        as_root systemctl disable --now postfix.service >/dev/null 2>&1 || true
    else
        as_root update-rc.d postfix disable >/dev/null 2>&1 || true
    fi
    if as_root postfix status >/dev/null 2>&1; then
        as_root postfix stop >/dev/null 2>&1 || true
    fi
}

# Dovecot is a test peer (a Maildir it wrote, served again by Aviary) and the benchmark's reference, never
# a running service here: the package starts it on 143 and 993, where Aviary's imapd belongs.
quiesce_dovecot() {
    if [[ -d /run/systemd/system ]]; then
        as_root systemctl disable --now dovecot.service dovecot.socket >/dev/null 2>&1 || true
    else
        as_root update-rc.d dovecot disable >/dev/null 2>&1 || true
    fi
    as_root pkill -x dovecot >/dev/null 2>&1 || true
}

# postgrey and opendmarc are test peers (postgrey started by each test on a port of its own, opendmarc's
# check tool only); their packages' services (postgrey on port 10023, the opendmarc milter) are not wanted.
quiesce_service() {
    if [[ -d /run/systemd/system ]]; then
        as_root systemctl disable --now "$1.service" >/dev/null 2>&1 || true
    else
        as_root update-rc.d "$1" disable >/dev/null 2>&1 || true
        as_root invoke-rc.d "$1" stop >/dev/null 2>&1 || true
    fi
}

missing=()
for package in "${PACKAGES[@]}"; do
    is_installed "$package" || missing+=("$package")
done

if ((${#missing[@]} > 0)); then
    note "installing: ${missing[*]}"
    installing_postfix=0
    for package in "${missing[@]}"; do [[ $package == postfix ]] && installing_postfix=1; done
    if ((installing_postfix)); then
        echo "postfix postfix/main_mailer_type select No configuration" | as_root debconf-set-selections
    fi
    apt_env=(env DEBIAN_FRONTEND=noninteractive)
    apt_opts=(-y -q -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    as_root "${apt_env[@]}" apt-get update -q </dev/null
    # One transaction: postfix then satisfies mailutils' need for an MTA (no exim4 gets pulled in).
    as_root "${apt_env[@]}" apt-get install "${apt_opts[@]}" "${missing[@]}" </dev/null
    if ((installing_postfix)); then
        quiesce_postfix
    fi
    for package in "${missing[@]}"; do [[ $package == dovecot-imapd || $package == dovecot-pop3d ]] && quiesce_dovecot; done
    for package in "${missing[@]}"; do [[ $package == postgrey || $package == opendmarc ]] && quiesce_service "$package"; done
    for package in "${missing[@]}"; do
        is_installed "$package" || die "package $package is still not installed"
    done
else
    note "packages: all present (${#PACKAGES[@]})"
fi

# imapclient (the IMAP tests' second Python client) is on PyPI only, not in Debian 12.
if ((want_test_tools)) && ! /usr/bin/python3 -c "import imapclient" 2>/dev/null; then
    note "installing imapclient from PyPI for /usr/bin/python3"
    as_root /usr/bin/python3 -m pip install --quiet --disable-pip-version-check --break-system-packages \
        "imapclient>=3,<4" </dev/null || die "pip could not install imapclient"
fi

# prometheus-client: the metrics test parses the service's scrape with the Prometheus project's own parser.
if ((want_test_tools)) && ! /usr/bin/python3 -c "import prometheus_client.parser" 2>/dev/null; then
    note "installing prometheus-client from PyPI for /usr/bin/python3"
    as_root /usr/bin/python3 -m pip install --quiet --disable-pip-version-check --break-system-packages \
        "prometheus-client>=0.20,<1" </dev/null || die "pip could not install prometheus-client"
fi

if ((want_system_user)); then
    if ! getent group "$MAIL_OWNER" >/dev/null; then
        note "creating system group $MAIL_OWNER"
        as_root groupadd --system "$MAIL_OWNER"
    fi
    if ! getent passwd "$MAIL_OWNER" >/dev/null; then
        note "creating system user $MAIL_OWNER"
        nologin=/usr/sbin/nologin
        [[ -x $nologin ]] || nologin=/bin/false
        as_root useradd --system --gid "$MAIL_OWNER" --home-dir /nonexistent --no-create-home \
            --shell "$nologin" --comment "Aviary mail system" "$MAIL_OWNER"
    fi
fi
