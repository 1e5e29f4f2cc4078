#!/usr/bin/env bash
# The fault suite (opt-in, minutes; not part of tests/run.sh): starts the `faults` cluster
# (3 nodes, --durable: a SIGKILLed node keeps its schema) and the plain `default` node,
# then kills nodes, the tool, and the tool's lease while deploys run, and prints what it
# measured. Stops what it started. Same caches as tests/run.sh.
#
#   tests/faults/run.sh                 every scenario
#   tests/faults/run.sh crash_matrix    the scenarios whose name contains the filter
#
# CASSACHANGE_FAULT_SEED replays the random moments of the signal scenario;
# CASSACHANGE_FAULT_ALTERS lengthens the 50-script deploy of the node-kill scenario.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export CASSACHANGE_CACHE="${CASSACHANGE_CACHE:-$HOME/.cache/cassachange}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CASSACHANGE_CACHE/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
NODE="$ROOT/tests/cassandra/node.sh"

started=()
cleanup() {
  local status=$?
  for name in "${started[@]}"; do
    "$NODE" stop --name "$name" >/dev/null 2>&1 || true
  done
  exit "$status"
}
trap cleanup EXIT

"$NODE" venv >/dev/null
if ! "$NODE" status --name default >/dev/null 2>&1; then
  started+=(default)
  "$NODE" start --name default
fi
# The cluster runs durable for this suite only: a running one without --durable is
# refused by node.sh ("stop it first").
if ! "$NODE" status --name faults >/dev/null 2>&1; then
  started+=(faults)
fi
"$NODE" start --name faults --nodes 3 --durable

cargo build --workspace --all-targets --locked
t0=$SECONDS
cargo test -p cassachange-tests --features faults --test faults --locked -- \
  --test-threads=1 --nocapture "$@"
echo "==> fault suite passed in $((SECONDS - t0))s"
