#!/usr/bin/env bash
# make-certs.sh: the security material of one eqat cluster, made with openssl.
#
#   deploy/make-certs.sh DIR [--name DNS_OR_IP]... [--force]
#
# Writes into DIR (created 0700; keys 0600), and leaves files that already
# exist alone unless --force:
#   ca.pem, ca.key                 the cluster CA (EC P-256, 10 years)
#   coordinator.pem, .key          server certificate of eqat-coordinator for
#                                  localhost, 127.0.0.1, ::1, eqat-coordinator
#                                  and every --name (825 days)
#   worker.pem, worker.key         client certificate every eqat-worker
#                                  presents (mutual TLS; 825 days)
#   tokens.csv                     the coordinator's --token-file: one admin
#                                  token, TOKEN,admin,admin
#   admin.token                    that token alone (EQAT_TOKEN_FILE for eqat)
# Used by deploy/local-cluster.sh on first start and by the tests; for
# Kubernetes, `kubectl create secret` from these files (deploy/k8s/README).
set -euo pipefail
PROG=$(basename "$0")
die() { echo "$PROG: $*" >&2; exit 2; }

DIR=""
FORCE=0
NAMES=(DNS:localhost IP:127.0.0.1 IP:::1 DNS:eqat-coordinator)
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    --force) FORCE=1; shift ;;
    --name)
      [[ $# -ge 2 && -n "$2" ]] || die "--name needs a value"
      if [[ "$2" =~ ^[0-9.]+$ || "$2" == *:* ]]; then NAMES+=("IP:$2"); else NAMES+=("DNS:$2"); fi
      shift 2 ;;
    -*) die "unknown option '$1'" ;;
    *) [[ -z "$DIR" ]] || die "unexpected argument '$1'"; DIR=$1; shift ;;
  esac
done
[[ -n "$DIR" ]] || die "usage: $PROG DIR [--name NAME]... [--force]"
command -v openssl >/dev/null || die "openssl not found (apt-get install openssl)"
mkdir -p "$DIR"
chmod 700 "$DIR"
cd "$DIR"
umask 077

fresh() { (( FORCE )) || [[ ! -s "$1" ]]; }

if fresh ca.pem || fresh ca.key; then
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout ca.key.tmp -out ca.pem.tmp -days 3650 -subj "/CN=eqat cluster CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null
  mv -f ca.key.tmp ca.key
  mv -f ca.pem.tmp ca.pem
  FORCE=1  # a new CA invalidates every certificate it did not sign
fi

# leaf NAME CN EXTENSIONS: NAME.key + NAME.pem signed by the CA.
leaf() {
  local name=$1 cn=$2 ext=$3
  fresh "$name.pem" || fresh "$name.key" || return 0
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$name.key.tmp" -out "$name.csr" -subj "/CN=$cn" 2>/dev/null
  printf '%b' "$ext" >"$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
    -extfile "$name.ext" -out "$name.pem.tmp" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
  mv -f "$name.key.tmp" "$name.key"
  mv -f "$name.pem.tmp" "$name.pem"
}

san=$(IFS=,; echo "${NAMES[*]}")
leaf coordinator eqat-coordinator \
  "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=$san\n"
leaf worker eqat-worker \
  "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectAltName=DNS:eqat-worker\n"

if fresh tokens.csv || fresh admin.token; then
  token=$(openssl rand -hex 24)
  printf '# TOKEN,NAME,ROLE (coordinator --token-file)\n%s,admin,admin\n' "$token" >tokens.csv.tmp
  printf '%s\n' "$token" >admin.token.tmp
  mv -f tokens.csv.tmp tokens.csv
  mv -f admin.token.tmp admin.token
fi
chmod 600 ./*.key tokens.csv admin.token
chmod 644 ./*.pem
