#!/usr/bin/env bash
# The AstraDB stand-in (astra_standin.py beside this file) in front of a test Cassandra
# instance that requires client certificates on TLS (node.sh's `secure`, or `cluster`
# started with --auth --mtls): an SNI router, the metadata service (mutual TLS, with a
# certificate from the instance's test CA), secure connect bundles and an application
# token. Python from the test venv (its cassandra-driver reads the nodes' host ids).
#
#   astra.sh start  [--name secure|cluster]   start it (idempotent; the instance must run)
#   astra.sh stop   [--name N | --all]
#   astra.sh status [--name N]
#   astra.sh env    [--name N]                export lines for the tests
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TESTS_DIR="$(dirname "$SCRIPT_DIR")"
CACHE="${CASSACHANGE_CACHE:-$HOME/.cache/cassachange}"
NODE="$TESTS_DIR/cassandra/node.sh"

die() { printf 'astra.sh: error: %s\n' "$*" >&2; exit 1; }

NAME=secure
ALL=0
cmd=${1:-help}
shift || true
while (($#)); do
  case $1 in
    --name) NAME=${2:?--name needs a value}; shift 2 ;;
    --all) ALL=1; shift ;;
    *) die "unknown option '$1'" ;;
  esac
done
case $NAME in
  secure) BASE=8460 ;;
  cluster) BASE=8470 ;;
  *) die "no stand-in layout for instance '$NAME' (secure or cluster)" ;;
esac
DIR="$CACHE/services/astra/$NAME"
CERTS="$CACHE/nodes/$NAME/certs"

python_bin() { printf '%s/python\n' "$("$NODE" venv)"; }
alive() { [[ -f $DIR/pid ]] && kill -0 "$(cat "$DIR/pid")" 2>/dev/null; }
ready() { [[ -f $DIR/hosts.json && -f $DIR/bundle-ok.zip ]] && (exec 3<>"/dev/tcp/127.0.0.1/$BASE") 2>/dev/null; }

certs() {
  [[ -f $CERTS/ca.key && -f $CERTS/client.pem ]] ||
    die "instance '$NAME' has no test CA with a client certificate: start it with mutual TLS (node.sh start --name $NAME)"
  mkdir -p "$DIR"
  [[ -f $DIR/metadata.pem && -f $DIR/other-ca.pem && $DIR/metadata.pem -nt $CERTS/ca.pem ]] && return 0
  (
    cd "$DIR"
    openssl req -newkey rsa:2048 -nodes -sha256 -keyout metadata.key -out metadata.csr \
      -subj "/CN=localhost" >/dev/null 2>&1
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >san.ext
    openssl x509 -req -sha256 -days 3650 -in metadata.csr -CA "$CERTS/ca.pem" -CAkey "$CERTS/ca.key" \
      -CAcreateserial -CAserial ca.srl -out metadata.pem -extfile san.ext >/dev/null 2>&1
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -keyout other-ca.key \
      -out other-ca.pem -subj "/CN=a CA that signed nothing here" >/dev/null 2>&1
  ) || die "could not make the stand-in's certificates"
}

cmd_start() {
  "$NODE" status --name "$NAME" >/dev/null 2>&1 || die "instance '$NAME' is not running: start it first"
  certs
  if alive && ready; then return 0; fi
  [[ -f $DIR/pid ]] && kill "$(cat "$DIR/pid")" 2>/dev/null || true
  rm -f "$DIR/hosts.json" "$DIR/bundle-ok.zip"
  local hosts port
  eval "$("$NODE" env --name "$NAME" | grep -E '^export CASSANDRA_(CONTACT_POINTS)=')"
  port=${CASSANDRA_CONTACT_POINTS%%,*}
  hosts=$(printf '%s' "$CASSANDRA_CONTACT_POINTS" | sed 's/\([^,:]*\):\([0-9]*\)/["\1", \2]/g')
  cat >"$DIR/config.json" <<EOF
{"out": "$DIR", "nodes": [$hosts], "router_port": $BASE,
 "metadata_ports": {"ok": $((BASE + 1)), "500": $((BASE + 2)), "badjson": $((BASE + 3)), "noproxy": $((BASE + 4))},
 "ca": "$CERTS/ca.pem", "other_ca": "$DIR/other-ca.pem",
 "server_cert": "$DIR/metadata.pem", "server_key": "$DIR/metadata.key",
 "client_cert": "$CERTS/client.pem", "client_key": "$CERTS/client.key"}
EOF
  : "$port"
  setsid "$(python_bin)" "$SCRIPT_DIR/astra_standin.py" "$DIR/config.json" \
    >"$DIR/server.log" 2>&1 </dev/null &
  echo $! >"$DIR/pid"
  local i
  for ((i = 0; i < 300; i++)); do
    ready && { printf 'AstraDB stand-in for %s ready: router 127.0.0.1:%s\n' "$NAME" "$BASE" >&2; return 0; }
    alive || { tail -n 30 "$DIR/server.log" >&2; die "the AstraDB stand-in exited while starting"; }
    sleep 0.1
  done
  die "the AstraDB stand-in did not come up within 30 s (log: $DIR/server.log)"
}

stop_one() {
  local d="$CACHE/services/astra/$1"
  if [[ -f $d/pid ]] && kill -0 "$(cat "$d/pid")" 2>/dev/null; then kill "$(cat "$d/pid")" 2>/dev/null || true; fi
  rm -f "$d/pid"
}

cmd_stop() {
  if ((ALL)); then stop_one secure; stop_one cluster; else stop_one "$NAME"; fi
}

cmd_status() { alive && ready; }

cmd_env() {
  printf 'export ASTRA_STANDIN_DIR=%q\n' "$DIR"
  printf 'export ASTRA_STANDIN_ROUTER=%q\n' "127.0.0.1:$BASE"
  printf 'export ASTRA_STANDIN_TOKEN=%q\n' "$(cat "$DIR/token" 2>/dev/null)"
}

case $cmd in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
