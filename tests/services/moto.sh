#!/usr/bin/env bash
# moto (PyPI `moto[server]`, in the test venv) as the AWS for cassachange's secret tests:
# one `moto_server` on 127.0.0.1:5010 serving SSM, Secrets Manager and STS to the real
# AWS SDK. Tests create their parameters and secrets with boto3 (a moto dependency)
# under unique names, so they run in parallel safely.
#
#   moto.sh start    start it (idempotent)
#   moto.sh stop     stop it
#   moto.sh status   exit 0 when it answers
#   moto.sh env      export lines for the tests
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TESTS_DIR="$(dirname "$SCRIPT_DIR")"
CACHE="${CASSACHANGE_CACHE:-$HOME/.cache/cassachange}"
DIR="$CACHE/services/moto"
ADDR="http://127.0.0.1:5010"

die() { printf 'moto.sh: error: %s\n' "$*" >&2; exit 1; }

venv_bin() { "$TESTS_DIR/cassandra/node.sh" venv; }
alive() { [[ -f $DIR/pid ]] && kill -0 "$(cat "$DIR/pid")" 2>/dev/null; }
answers() { curl -s -o /dev/null -f "$ADDR/moto-api/"; }

cmd_start() {
  local bin
  bin="$(venv_bin)/moto_server"
  [[ -x $bin ]] || die "moto_server not found in the test venv ($bin): is moto[server] in tests/requirements.txt?"
  mkdir -p "$DIR"
  if alive && answers; then return 0; fi
  [[ -f $DIR/pid ]] && kill "$(cat "$DIR/pid")" 2>/dev/null || true
  setsid "$bin" -H 127.0.0.1 -p "${ADDR##*:}" >"$DIR/server.log" 2>&1 </dev/null &
  echo $! >"$DIR/pid"
  local i
  for ((i = 0; i < 150; i++)); do
    answers && { printf 'moto ready: %s\n' "$ADDR" >&2; return 0; }
    alive || { tail -n 30 "$DIR/server.log" >&2; die "moto_server exited while starting"; }
    sleep 0.2
  done
  tail -n 30 "$DIR/server.log" >&2
  die "moto_server did not answer on $ADDR within 30 s"
}

cmd_stop() {
  if alive; then kill "$(cat "$DIR/pid")" 2>/dev/null || true; fi
  rm -f "$DIR/pid"
}

cmd_status() { alive && answers; }

cmd_env() {
  printf 'export MOTO_ADDR=%q\n' "$ADDR"
  printf 'export MOTO_PYTHON=%q\n' "$(venv_bin)/python"
}

case ${1:-help} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
