#!/usr/bin/env bash
# The Azure Key Vault stand-in (akv_standin.py beside this file) for cassachange's Key
# Vault tests: HTTPS on 127.0.0.1:8450 with a certificate from a test CA made here
# with openssl, serving the Key Vault secrets API and the Entra ID / managed identity
# token endpoints. Python from the test venv; nothing to download.
#
#   akv.sh start    start it (idempotent)
#   akv.sh stop     stop it
#   akv.sh status   exit 0 when it answers
#   akv.sh env      export lines for the tests (URL, CA, the identities it accepts)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TESTS_DIR="$(dirname "$SCRIPT_DIR")"
CACHE="${CASSACHANGE_CACHE:-$HOME/.cache/cassachange}"
DIR="$CACHE/services/akv"
PORT=8450
URL="https://127.0.0.1:$PORT"

die() { printf 'akv.sh: error: %s\n' "$*" >&2; exit 1; }

python_bin() { printf '%s/python\n' "$("$TESTS_DIR/cassandra/node.sh" venv)"; }
alive() { [[ -f $DIR/pid ]] && kill -0 "$(cat "$DIR/pid")" 2>/dev/null; }
# Any HTTP answer (a 404 for the root) means it is up.
answers() { curl -s -o /dev/null --cacert "$DIR/ca.pem" "$URL/"; }

certs() {
  [[ -f $DIR/server.pem && -f $DIR/ca.pem ]] && return 0
  command -v openssl >/dev/null 2>&1 || die "openssl not found"
  mkdir -p "$DIR"
  (
    cd "$DIR"
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -keyout ca.key -out ca.pem \
      -subj "/CN=cassachange test Key Vault CA" >/dev/null 2>&1
    openssl req -newkey rsa:2048 -nodes -sha256 -keyout server.key -out server.csr \
      -subj "/CN=localhost" >/dev/null 2>&1
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >san.ext
    openssl x509 -req -sha256 -days 3650 -in server.csr -CA ca.pem -CAkey ca.key \
      -CAcreateserial -out server.pem -extfile san.ext >/dev/null 2>&1
  ) || die "could not make the test certificates"
}

cmd_start() {
  local py
  py=$(python_bin)
  certs
  if alive && answers; then return 0; fi
  [[ -f $DIR/pid ]] && kill "$(cat "$DIR/pid")" 2>/dev/null || true
  setsid "$py" "$SCRIPT_DIR/akv_standin.py" "$PORT" "$DIR/server.pem" "$DIR/server.key" \
    >"$DIR/server.log" 2>&1 </dev/null &
  echo $! >"$DIR/pid"
  local i
  for ((i = 0; i < 100; i++)); do
    answers && { printf 'Key Vault stand-in ready: %s\n' "$URL" >&2; return 0; }
    alive || { tail -n 30 "$DIR/server.log" >&2; die "the Key Vault stand-in exited while starting"; }
    sleep 0.1
  done
  die "the Key Vault stand-in did not answer on $URL within 10 s"
}

cmd_stop() {
  if alive; then kill "$(cat "$DIR/pid")" 2>/dev/null || true; fi
  rm -f "$DIR/pid"
}

cmd_status() { alive && answers; }

cmd_env() {
  printf 'export AKV_URL=%q\n' "$URL"
  printf 'export AKV_CACERT=%q\n' "$DIR/ca.pem"
  (cd "$SCRIPT_DIR" && "$(python_bin)" -c '
import akv_standin as s
for k, v in [("TENANT", s.TENANT), ("CLIENT_ID", s.CLIENT_ID),
             ("NO_ACCESS_CLIENT_ID", s.NO_ACCESS_CLIENT_ID), ("CLIENT_SECRET", s.CLIENT_SECRET),
             ("FEDERATED_TOKEN", s.FEDERATED_TOKEN), ("IDENTITY_HEADER", s.IDENTITY_HEADER),
             ("ADMIN_TOKEN", s.ADMIN_TOKEN)]:
    print(f"export AKV_{k}={v}")
')
}

case ${1:-help} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
