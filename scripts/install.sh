#!/usr/bin/env bash
# Installs Aviary: programs, accounts, configuration, queue tree and systemd unit. Safe to run again
# (an update keeps /etc/aviary as it is and puts owners and modes back).
#
#   scripts/install.sh [--prefix /usr/local] [--root DIR] [--no-systemd] [--system-sendmail [--force]]
#                      [--from BINDIR]
#
#   --prefix P          programs in P/libexec/aviary/ (master finds its services beside itself),
#                       P/sbin/aviary -> ../libexec/aviary/aviary (default /usr/local)
#   --root DIR          install into DIR as if it were / (an image, a chroot, a test). Accounts are created
#                       with `useradd --root DIR` when DIR/etc/passwd and DIR/etc/group exist, and owners
#                       are taken from those files, never from this host's; without them the account step
#                       is skipped, written to DIR/P/share/aviary/INSTALL-TODO, and files keep the
#                       installing user as owner (modes are still set). Nothing is started or reloaded.
#   --no-systemd        no unit file
#   --system-sendmail   also make /usr/sbin/sendmail, /usr/bin/mailq and /usr/bin/newaliases point to
#                       Aviary's sendmail; an existing sendmail that is not Aviary's is left alone unless
#                       --force (then it is kept as <name>.pre-aviary)
#   --from BINDIR       take the built programs from BINDIR (default: `swift build -c release`)
#
# What it does (Postfix's postfix-files, with Aviary's names):
#   accounts    aviary (mail_owner, system user, no login) and group aviarydrop (setgid_group)
#   programs    P/libexec/aviary/{master,smtpd,qmgr,local,pickup,showq,anvil,smtp,pop3d,pop3mail,imapd,imapmail,aviary} root:root 0755,
#               sendmail root:aviarydrop 2755 (setgid: any user may submit; see AviarySubmission's
#               SetgidPrivilege.swift)
#   config      /etc/aviary/main.cf and master.cf from the examples, only when missing; a new main.cf
#               names Debian's ssl-cert "snakeoil" certificate when DIR/etc/ssl has it (as Debian's
#               Postfix and Dovecot start with), so submission, smtps, pop3s and imaps work at once
#   queue       /var/spool/aviary root 0755; maildrop/ aviary:aviarydrop 1730; public/ aviary:aviarydrop
#               0710; incoming active deferred hold corrupt defer targets spare private aviary 0700;
#               pid/ root 0755
#   mailboxes   /var/mail (1777 when missing); /var/mail/vhosts aviary 0750 when missing (virtual_mailbox_base)
#   systemd     /etc/systemd/system/aviary.service (then daemon-reload when systemd runs this host)
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PROGRAMS=(master smtpd qmgr local pickup showq anvil smtp pop3d pop3mail imapd imapmail aviary sendmail)
MAIL_OWNER=aviary
SETGID_GROUP=aviarydrop

prefix=/usr/local
root=""
systemd=1
system_sendmail=0
force=0
from=""
while (($#)); do
    case $1 in
        --prefix) prefix=${2:?--prefix needs a directory}; shift ;;
        --root) root=${2:?--root needs a directory}; shift ;;
        --no-systemd) systemd=0 ;;
        --system-sendmail) system_sendmail=1 ;;
        --force) force=1 ;;
        --from) from=${2:?--from needs a directory}; shift ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument '$1' (try --help)" ;;
    esac
    shift
done
[[ $prefix == /* ]] || die "--prefix must be an absolute path"
if [[ -n $root ]]; then
    [[ -d $root ]] || die "--root $root: no such directory"
    root=$(cd "$root" && pwd)
    [[ $root != / ]] || root=""
fi
[[ $EUID -eq 0 || -n $root ]] || die "run as root (or use --root DIR to install into a directory)"

libexec=$prefix/libexec/aviary
todo=$root$prefix/share/aviary/INSTALL-TODO
spool=/var/spool/aviary

# --- programs -----------------------------------------------------------------------------------
if [[ -z $from ]]; then
    ensure_swift
    note "building the release programs"
    (cd "$REPO_ROOT" && swift build -c release >&2)
    from=$(cd "$REPO_ROOT" && swift build -c release --show-bin-path)
fi
for program in "${PROGRAMS[@]}"; do
    [[ -x $from/$program ]] || die "$from/$program is missing (build first, or give --from BINDIR)"
done

# --- accounts -----------------------------------------------------------------------------------
# Owners are resolved in the target's own account files.
accounts_ok=1
account_args=()
if [[ -n $root ]]; then
    if [[ -f $root/etc/passwd && -f $root/etc/group ]]; then
        account_args=(--root "$root")
    else
        accounts_ok=0
    fi
fi
uid_of() { awk -F: -v n="$1" '$1 == n { print $3; exit }' "$root/etc/passwd"; }
gid_of() { awk -F: -v n="$1" '$1 == n { print $3; exit }' "$root/etc/group"; }

if ((accounts_ok)); then
    if [[ -z $(gid_of "$SETGID_GROUP") ]]; then
        note "creating group $SETGID_GROUP"
        groupadd "${account_args[@]}" --system "$SETGID_GROUP"
    fi
    if [[ -z $(uid_of "$MAIL_OWNER") ]]; then
        note "creating user $MAIL_OWNER"
        useradd "${account_args[@]}" --system --user-group --home-dir /nonexistent \
            --shell /usr/sbin/nologin --comment "Aviary mail system" "$MAIL_OWNER" 2> >(grep -v "missing or non-executable shell" >&2)
    fi
    owner_uid=$(uid_of "$MAIL_OWNER")
    owner_gid=$(awk -F: -v n="$MAIL_OWNER" '$1 == n { print $4; exit }' "$root/etc/passwd")
    drop_gid=$(gid_of "$SETGID_GROUP")
    root_ids=0:0
else
    note "no $root/etc/passwd: accounts not created (see $todo)"
    owner_uid=$(id -u) owner_gid=$(id -g) drop_gid=$(id -g)
    root_ids=$(id -u):$(id -g)
fi

# own IDS PATH...: chown when we may (root, or the ids are our own).
own() {
    local ids=$1
    shift
    if [[ $EUID -eq 0 ]]; then chown -h "$ids" "$@"; fi
}

# --- programs -----------------------------------------------------------------------------------
install -d -m 0755 "$root$libexec" "$root$prefix/sbin"
for program in "${PROGRAMS[@]}"; do
    # A new file renamed over the old one: a running master or sendmail keeps its open copy.
    install -m 0755 "$from/$program" "$root$libexec/.$program.new"
    mv -f "$root$libexec/.$program.new" "$root$libexec/$program"
    own "$root_ids" "$root$libexec/$program"
done
# setgid_group on sendmail: chown clears set-id bits, so the mode comes after it.
own "${root_ids%%:*}:$drop_gid" "$root$libexec/sendmail"
chmod 2755 "$root$libexec/sendmail"
ln -sfn ../libexec/aviary/aviary "$root$prefix/sbin/aviary"

# --- configuration ------------------------------------------------------------------------------
install -d -m 0755 "$root/etc/aviary"
snakeoil_cert=/etc/ssl/certs/ssl-cert-snakeoil.pem
snakeoil_key=/etc/ssl/private/ssl-cert-snakeoil.key
for file in main.cf master.cf; do
    if [[ ! -e $root/etc/aviary/$file ]]; then
        install -m 0644 "$REPO_ROOT/$file.example" "$root/etc/aviary/$file"
        if [[ $file == main.cf && -f $root$snakeoil_cert && -f $root$snakeoil_key ]]; then
            {
                echo
                echo "# Written by install.sh: Debian's self-signed ssl-cert certificate, as Debian's Postfix and"
                echo "# Dovecot start with, so that TLS services work at once. Clients will not trust it: put your"
                echo "# own certificate (with its chain) and key here."
                echo "smtpd_tls_cert_file = $snakeoil_cert"
                echo "smtpd_tls_key_file = $snakeoil_key"
            } >>"$root/etc/aviary/$file"
            note "main.cf: TLS with the ssl-cert snakeoil certificate ($snakeoil_cert)"
        elif [[ $file == main.cf ]]; then
            note "main.cf: no certificate yet; submission, smtps, pop3s and imaps need smtpd_tls_cert_file and smtpd_tls_key_file (aviary check says so)"
        fi
        own "$root_ids" "$root/etc/aviary/$file"
    fi
done
for file in aliases users; do
    install -m 0644 "$REPO_ROOT/etc/$file.example" "$root/etc/aviary/$file.example"
done

# --- queue tree (AviaryQueue's QueueName table; master puts it right again at every start) --------
install -d -m 0755 "$root/var/spool"
install -d -m 0755 "$root$spool"
own "$root_ids" "$root$spool"
queue_dir() { # NAME MODE UID:GID
    install -d "$root$spool/$1"
    own "$3" "$root$spool/$1"
    chmod "$2" "$root$spool/$1"
}
for name in incoming active deferred hold corrupt defer targets spare private; do
    queue_dir "$name" 0700 "$owner_uid:$owner_gid"
done
for name in deferred defer targets; do
    for hash in 0 1 2 3 4 5 6 7 8 9 A B C D E F G H I J K L M N O P Q R S T U V W X Y Z; do
        queue_dir "$name/$hash" 0700 "$owner_uid:$owner_gid"
    done
done
queue_dir maildrop 1730 "$owner_uid:$drop_gid"
queue_dir public 0710 "$owner_uid:$drop_gid"
queue_dir pid 0755 "$root_ids"
if [[ ! -d $root/var/mail ]]; then
    install -d -m 1777 "$root/var/mail"
fi
# virtual_mailbox_base (main.cf's default): local writes virtual users' Maildirs there as the mail owner,
# who may not write /var/mail itself (Debian's is root:mail 2775), so it cannot make this directory.
vhosts=/var/mail/vhosts
if [[ ! -d $root$vhosts ]]; then
    install -d -m 0750 "$root$vhosts"
    own "$owner_uid:$owner_gid" "$root$vhosts"
fi

# --- the system's sendmail ----------------------------------------------------------------------
if ((system_sendmail)); then
    for link in /usr/sbin/sendmail /usr/bin/mailq /usr/bin/newaliases; do
        target=$root$link
        install -d -m 0755 "$(dirname "$target")"
        if [[ -L $target && $(readlink "$target") == "$libexec/sendmail" ]]; then
            continue
        fi
        if [[ -e $target || -L $target ]]; then
            if ((!force)); then
                note "$link exists and is not Aviary's: left alone (use --force to replace it)"
                continue
            fi
            mv -f "$target" "$target.pre-aviary"
            note "$link kept as $link.pre-aviary"
        fi
        ln -s "$libexec/sendmail" "$target"
    done
fi

# --- systemd ------------------------------------------------------------------------------------
if ((systemd)); then
    install -d -m 0755 "$root/etc/systemd/system"
    sed -e "s|@PREFIX@|$prefix|g" -e "s|@CONFIG@|/etc/aviary|g" "$REPO_ROOT/etc/aviary.service" \
        >"$root/etc/systemd/system/.aviary.service.new"
    chmod 0644 "$root/etc/systemd/system/.aviary.service.new"
    mv -f "$root/etc/systemd/system/.aviary.service.new" "$root/etc/systemd/system/aviary.service"
    if [[ -z $root && -d /run/systemd/system ]]; then
        systemctl daemon-reload
    fi
fi

if ((!accounts_ok)); then
    install -d -m 0755 "$(dirname "$todo")"
    cat >"$todo" <<EOF
# Steps scripts/install.sh could not do in this root (no etc/passwd or etc/group there).
# Run them on the system that boots from it, then run scripts/install.sh again (or start master,
# which puts the queue's owners right):
groupadd --system $SETGID_GROUP
useradd --system --user-group --home-dir /nonexistent --shell /usr/sbin/nologin $MAIL_OWNER
chgrp $SETGID_GROUP $libexec/sendmail && chmod 2755 $libexec/sendmail
chown -R $MAIL_OWNER:$MAIL_OWNER $spool && chown root:root $spool $spool/pid
chgrp $SETGID_GROUP $spool/maildrop $spool/public && chmod 1730 $spool/maildrop && chmod 0710 $spool/public
EOF
fi
note "installed Aviary in ${root:-/} (programs in $libexec)"
