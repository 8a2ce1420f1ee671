#!/bin/sh
# Makes throwaway certificates for tests in DIR (never commit what it makes: it includes private keys).
#
#   ca.pem ca.key                 a CA, "Aviary Test CA"
#   server.pem server.key         signed by the CA for mail.example.test, localhost and 127.0.0.1
#   server-chain.pem              server.pem followed by ca.pem (what smtpd_tls_cert_file holds)
#   expired.pem expired.key       signed by the CA, valid 2023-01-01 to 2024-01-01 00:00:00 UTC
#   future.pem future.key         signed by the CA, valid from 2099-01-01 00:00:00 UTC
#   soon.pem soon.key             signed by the CA, valid from now for 10 days (expires soon)
#   other.key                     a key that matches none of the certificates
#
# Usage: scripts/gen-test-certs.sh DIR
set -eu
dir=${1:?usage: gen-test-certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
umask 077

newkey() { # file
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}

newkey ca.key
openssl req -x509 -new -key ca.key -out ca.pem -days 3650 -subj "/O=Aviary Test/CN=Aviary Test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"

cat > server.ext <<'EXT'
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:mail.example.test, DNS:localhost, IP:127.0.0.1
EXT

# The CA database lets `openssl ca` sign with explicit start and end dates (x509 -req cannot before 3.4).
mkdir -p ca-db
: > ca-db/index.txt
echo 1000 > ca-db/serial
cat > ca.cnf <<'CNF'
[ ca ]
default_ca = test_ca
[ test_ca ]
database = ca-db/index.txt
new_certs_dir = ca-db
serial = ca-db/serial
default_md = sha256
policy = any_name
unique_subject = no
[ any_name ]
organizationName = optional
commonName = supplied
CNF

sign() { # name subject-cn start end | name subject-cn -days N
    local name=$1 cn=$2
    shift 2
    local dates
    if [ "$1" = -days ]; then dates="-days $2"; else dates="-startdate $1 -enddate $2"; fi
    newkey "$name.key"
    openssl req -new -key "$name.key" -out "$name.csr" -subj "/O=Aviary Test/CN=$cn"
    # shellcheck disable=SC2086 # $dates is two or four words
    openssl ca -batch -notext -config ca.cnf -cert ca.pem -keyfile ca.key -extfile server.ext \
        -in "$name.csr" -out "$name.pem" $dates 2>/dev/null
    rm -f "$name.csr"
}

sign server mail.example.test 20000101000000Z 20991231000000Z
sign expired mail.example.test 20230101000000Z 20240101000000Z
sign future mail.example.test 20990101000000Z 21000101000000Z
sign soon mail.example.test -days 10
cat server.pem ca.pem > server-chain.pem
newkey other.key
