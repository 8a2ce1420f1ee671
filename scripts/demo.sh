#!/usr/bin/env bash
# Try Aviary on this machine: builds it, writes a demo instance under ./demo/ and runs it in the
# foreground (Ctrl-C stops it). Runs as the invoking user; root is needed only to install missing
# Debian packages (through sudo).
#
#   scripts/demo.sh                start the demo (SMTP on 127.0.0.1:2525)
#   scripts/demo.sh --setup-only   build and write demo/ but do not start
#
# demo/ is written once: main.cf and master.cf from main.cf.example and master.cf.example with the
# demo's paths and ports, users with demo@example.test and a random password (demo/PASSWORD), aliases.
# Existing files and mail are kept; delete demo/ to start afresh.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

DEMO=$REPO_ROOT/demo
DEMO_USER=demo@example.test
SMTP_HOST=127.0.0.1
SMTP_PORT=2525
MAIL_OWNER=aviary

start=1
for arg in "$@"; do
    case $arg in
        --setup-only) start=0 ;;
        -h | --help)
            usage
            exit 0
            ;;
        *) die "unknown argument '$arg' (try --help)" ;;
    esac
done
[[ $DEMO != *[[:space:]]* ]] || die "the repository path '$REPO_ROOT' contains whitespace; main.cf lists cannot hold it"

# 1. Dependencies and build. A root-started master runs its services as mail_owner, which must exist.
if [[ $EUID -eq 0 ]]; then
    scripts/install-deps.sh --demo --system-user
else
    scripts/install-deps.sh --demo
fi
ensure_swift
note "swift build"
swift build
AVIARY=$REPO_ROOT/.build/debug/aviary
[[ -x $AVIARY ]] || die "$AVIARY was not built"

# 2. The demo instance.
# set_param FILE NAME VALUE: replace the first "NAME =" or "#NAME =" line of FILE, or append one.
set_param() {
    local file=$1 name=$2 value=$3
    awk -v name="$name" -v value="$value" '
        !done && ($0 ~ "^#?" name "[ \t]*=") { print name " = " value; done = 1; next }
        { print }
        END { if (!done) print name " = " value }
    ' "$file" >"$file.new"
    mv "$file.new" "$file"
}

mkdir -p "$DEMO"
chmod 755 "$DEMO"

if [[ ! -f $DEMO/main.cf ]]; then
    note "writing demo/main.cf"
    {
        echo "# Aviary demo instance, written by scripts/demo.sh from main.cf.example."
        echo "# Virtual user $DEMO_USER; mail lands in $DEMO/vmail/example.test/demo/new/."
        echo
        cat main.cf.example
    } >"$DEMO/main.cf.new"
    set_param "$DEMO/main.cf.new" queue_directory "$DEMO/spool"
    set_param "$DEMO/main.cf.new" myhostname mail.example.test
    set_param "$DEMO/main.cf.new" mydestination localhost
    set_param "$DEMO/main.cf.new" mynetworks 127.0.0.0/8
    set_param "$DEMO/main.cf.new" virtual_mailbox_domains example.test
    set_param "$DEMO/main.cf.new" virtual_mailbox_maps "passwd-file:$DEMO/users"
    set_param "$DEMO/main.cf.new" virtual_mailbox_base "$DEMO/vmail"
    set_param "$DEMO/main.cf.new" alias_maps "hash:$DEMO/aliases"
    set_param "$DEMO/main.cf.new" smtpd_tls_cert_file "$DEMO/tls/cert.pem"
    set_param "$DEMO/main.cf.new" smtpd_tls_key_file "$DEMO/tls/key.pem"
    # The demo listens on 127.0.0.1 only: allow POP3 and IMAP passwords without TLS too (labs with nc/telnet).
    set_param "$DEMO/main.cf.new" pop3d_tls_auth_only no
    set_param "$DEMO/main.cf.new" imapd_tls_auth_only no
    mv "$DEMO/main.cf.new" "$DEMO/main.cf"
fi

# A self-signed certificate for STARTTLS (SMTP, submission) and TLS on connect (submissions), made once.
if [[ ! -f $DEMO/tls/cert.pem ]]; then
    note "making a self-signed certificate for mail.example.test (demo/tls/)"
    mkdir -p "$DEMO/tls"
    (
        umask 077
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
            -subj "/CN=mail.example.test" -addext "subjectAltName=DNS:mail.example.test,DNS:localhost,IP:127.0.0.1" \
            -keyout "$DEMO/tls/key.pem" -out "$DEMO/tls/cert.pem" 2>/dev/null
    )
    chmod 644 "$DEMO/tls/cert.pem"
fi

if [[ ! -f $DEMO/master.cf ]]; then
    note "writing demo/master.cf"
    # Network services move to 127.0.0.1 and unprivileged ports; commented ones stay commented.
    {
        echo "# Aviary demo instance, written by scripts/demo.sh from master.cf.example:"
        echo "# network services on 127.0.0.1 with unprivileged ports (2525 for 25, 5870 for 587, ...)."
        echo
        awk '
            BEGIN {
                port["smtp"] = "127.0.0.1:2525"; port["submission"] = "127.0.0.1:5870"
                port["submissions"] = "127.0.0.1:4650"; port["pop3"] = "127.0.0.1:1100"
                port["imap"] = "127.0.0.1:1430"; port["pop3s"] = "127.0.0.1:9950"
                port["imaps"] = "127.0.0.1:9930"
            }
            {
                hash = ""; line = $0
                if (substr(line, 1, 1) == "#") { hash = "#"; line = substr(line, 2) }
                n = split(line, field, /[ \t]+/)
                if (n >= 8 && field[2] == "inet" && (field[1] in port) && match(line, /^[^ \t]+[ \t]+/)) {
                    printf "%s%-18s %s\n", hash, port[field[1]], substr(line, RLENGTH + 1)
                    next
                }
                print
            }
        ' master.cf.example
    } >"$DEMO/master.cf.new"
    grep -qE "^$SMTP_HOST:$SMTP_PORT +inet " "$DEMO/master.cf.new" ||
        die "master.cf.example has no 'smtp inet' service line to turn into $SMTP_HOST:$SMTP_PORT"
    mv "$DEMO/master.cf.new" "$DEMO/master.cf"
fi

if [[ ! -f $DEMO/aliases ]]; then
    cp etc/aliases.example "$DEMO/aliases"
fi

if [[ ! -f $DEMO/users ]]; then
    note "creating $DEMO_USER with a random password (demo/PASSWORD)"
    password=$(openssl rand -hex 12)
    hash=$(printf '%s\n' "$password" | openssl passwd -6 -stdin)
    (
        umask 077
        printf '%s\n' "$password" >"$DEMO/PASSWORD"
    )
    printf '# Written by scripts/demo.sh; format: etc/users.example.\n%s:{SHA512-CRYPT}%s\n' \
        "$DEMO_USER" "$hash" >"$DEMO/users"
    chmod 640 "$DEMO/users"
fi

mkdir -p "$DEMO/vmail"
if [[ $EUID -eq 0 ]]; then
    # Services other than local run as mail_owner: let them read the users and write the mailboxes.
    chgrp "$MAIL_OWNER" "$DEMO/users"
    chown "$MAIL_OWNER:$MAIL_OWNER" "$DEMO/vmail"
    # smtpd and qmgr run as mail_owner: every directory above demo/ must let it through (/root is 0700).
    if ! runuser -u "$MAIL_OWNER" -- test -r "$DEMO/users"; then
        die "the mail_owner account '$MAIL_OWNER' cannot reach $DEMO (a parent directory is closed to other users, as /root is).
Run scripts/demo.sh as an ordinary user, or from a checkout that others may traverse (for example under /srv or /opt)."
    fi
fi

# 3. How to use it.
password=$(cat "$DEMO/PASSWORD" 2>/dev/null || echo "(unknown: delete demo/users to make a new one)")
aviary_cmd=${AVIARY#"$REPO_ROOT"/}
cat <<EOF

Aviary demo instance: $DEMO
  SMTP              $SMTP_HOST:$SMTP_PORT (STARTTLS offered; 127.0.0.0/8 may relay; mail for example.test is delivered here)
  submission        $SMTP_HOST:5870 (STARTTLS, then AUTH required)   submissions $SMTP_HOST:4650 (TLS on connect)
  POP3              $SMTP_HOST:1100 (USER/PASS allowed in plaintext on the demo; STLS offered)
  IMAP              $SMTP_HOST:1430 (LOGIN allowed in plaintext on the demo; STARTTLS offered)   imaps $SMTP_HOST:9930
  virtual user      $DEMO_USER   password: $password   (demo/PASSWORD)
  TLS certificate   demo/tls/cert.pem (self-signed for mail.example.test)

Send a message, from another terminal:
  swaks --server $SMTP_HOST:$SMTP_PORT --to $DEMO_USER
or as a mail program would, over TLS with a login:
  swaks --server $SMTP_HOST:5870 --tls --auth PLAIN --auth-user $DEMO_USER --auth-password $password \\
        --from $DEMO_USER --to $DEMO_USER
  openssl s_client -starttls smtp -connect $SMTP_HOST:$SMTP_PORT

or by hand (nc -C 127.0.0.1 $SMTP_PORT from netcat-openbsd, or telnet 127.0.0.1 $SMTP_PORT); you type
the lines without a reply code (replies may be worded differently):
  220 mail.example.test ESMTP Aviary
  EHLO client.example
  250-mail.example.test ...
  MAIL FROM:<you@example.org>
  250 2.1.0 Ok
  RCPT TO:<$DEMO_USER>
  250 2.1.5 Ok
  DATA
  354 End data with <CR><LF>.<CR><LF>
  Subject: hello

  Hello from the demo.
  .
  250 2.0.0 Ok: queued as ...
  QUIT
  221 2.0.0 Bye

It lands in $DEMO/vmail/example.test/demo/new/ (one file per message):
  ls demo/vmail/example.test/demo/new/ && cat demo/vmail/example.test/demo/new/*

Read it over IMAP (Thunderbird or a phone: server $SMTP_HOST, port 1430, STARTTLS, normal password,
user $DEMO_USER; the certificate is self-signed), or from a terminal:
  curl -k --ssl-reqd --user $DEMO_USER:$password 'imap://$SMTP_HOST:1430/INBOX;UID=1'
  nc -C $SMTP_HOST 1430      then: a LOGIN $DEMO_USER $password / b SELECT INBOX / c FETCH 1 BODY[] / d LOGOUT

Look at the queue and the instance:  $aviary_cmd queue list -c demo    $aviary_cmd status -c demo
Configuration: demo/main.cf, demo/master.cf, demo/users, demo/aliases (delete demo/ to start afresh).
EOF

if ((!start)); then
    exit 0
fi

if port_in_use "$SMTP_PORT"; then
    pid_file=$DEMO/spool/pid/master.pid
    if [[ -f $pid_file ]] && kill -0 "$(tr -d ' \n' <"$pid_file")" 2>/dev/null; then
        die "the demo is already running (master pid $(tr -d ' \n' <"$pid_file")); stop it: $aviary_cmd stop -c demo"
    fi
    die "port $SMTP_PORT is in use by another program: see ss -ltnp 'sport = :$SMTP_PORT'"
fi
echo
echo "Starting: $aviary_cmd start -c demo --foreground   (Ctrl-C stops it; logs follow on stderr)"
echo
exec "$AVIARY" start -c "$DEMO" --foreground
