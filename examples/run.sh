#!/usr/bin/env bash
# The main job, from a fresh machine: build cassachange, start a local Cassandra 5.0 node
# unless CASSANDRA_HOSTS names a cluster, create the example's keyspaces (cassachange
# never creates keyspaces itself), then validate, deploy and show the status of the
# example project in this folder. The node keeps running afterwards
# (tests/cassandra/node.sh stop to stop it).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
export CASSACHANGE_CACHE="${CASSACHANGE_CACHE:-$HOME/.cache/cassachange}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CASSACHANGE_CACHE/target}"
NODE="$ROOT/tests/cassandra/node.sh"

echo "==> building cassachange"
(cd "$ROOT" && cargo build --release --locked -p cassachange)
BIN="$CARGO_TARGET_DIR/release/cassachange"

if [ -z "${CASSANDRA_HOSTS:-}" ]; then
  echo "==> starting a local Cassandra 5.0 node (first run downloads ~70 MB of jars)"
  "$NODE" start
  create() { "$NODE" cql "$1"; }
else
  echo "==> using the cluster at $CASSANDRA_HOSTS"
  create() { echo "    (create it yourself on $CASSANDRA_HOSTS if missing): $1"; }
fi

for ks in shop_dev shop_migrations_dev; do
  create "CREATE KEYSPACE IF NOT EXISTS $ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
done

cd "$HERE"
echo "==> cassachange validate"
"$BIN" validate
echo "==> cassachange deploy --dry-run"
"$BIN" deploy --dry-run
echo "==> cassachange deploy"
"$BIN" deploy
echo "==> cassachange status"
"$BIN" status
