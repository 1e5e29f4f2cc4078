#!/usr/bin/env python3
"""Benchmark (not a test): what the per-script fence (a Paxos round on the lock row
before each script) costs across datacenters, on the two-datacenter pair of
tests/cassandra/node.sh (`twodc`: dc1 127.0.0.8, dc2 127.0.0.9; started if needed).

With --delay, a WAN between the datacenters is simulated with `tc netem` on the loopback
device: every packet to or from dc2's address is delayed by that many ms each way (needs
root and a kernel with the prio and netem qdiscs; removed at the end, also on failure).
The machines this was written on have neither qdisc: there it measures loopback only. The project's keyspaces replicate to both datacenters
(dc1:1, dc2:1); the deploy connects to dc1 and runs --scripts one-statement data scripts
(INSERTs: no schema agreement in the way). For each delay and history_consistency
(quorum: the fence at SERIAL, both datacenters; local_quorum: LOCAL_SERIAL, dc1 only)
it prints the deploy's wall time and the time per script.

Usage: tests/bench/fence_dc.py [--delay 0[,20]] [--scripts 20] [--runs 3] [--bin PATH]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CACHE = os.environ.get("CASSACHANGE_CACHE", os.path.expanduser("~/.cache/cassachange"))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(CACHE, "target"))
NODE = os.path.join(REPO, "tests/cassandra/node.sh")
DC1, DC2, PORT = "127.0.0.8", "127.0.0.9", 9046


def sh(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True).stdout


def cql(stmt):
    sh(NODE, "cql", "--name", "twodc", stmt)


def netem(delay_ms):
    """Delays packets to and from dc2 on lo by delay_ms (0: no qdisc at all)."""
    sh("tc", "qdisc", "del", "dev", "lo", "root", check=False)
    if delay_ms == 0:
        return
    sh("tc", "qdisc", "add", "dev", "lo", "root", "handle", "1:", "prio")
    sh("tc", "qdisc", "add", "dev", "lo", "parent", "1:3", "handle", "30:", "netem",
       "delay", f"{delay_ms}ms")
    for field in ("dst", "src"):
        sh("tc", "filter", "add", "dev", "lo", "protocol", "ip", "parent", "1:0", "prio", "3",
           "u32", "match", "ip", field, f"{DC2}/32", "flowid", "1:3")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--delay", default="0", help="one-way delays to dc2 in ms, e.g. 0,20")
    ap.add_argument("--scripts", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bin", default=None)
    a = ap.parse_args()
    binary = a.bin or os.path.join(TARGET, "release", "cassachange")
    if not os.path.exists(binary):
        sys.exit(f"{binary} not found: cargo build --release -p cassachange (or --bin)")
    delays = [int(d) for d in a.delay.split(",")]
    if any(delays):
        if os.geteuid() != 0:
            sys.exit("--delay: tc netem needs root")
        probe = subprocess.run(["tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "0ms"],
                               capture_output=True, text=True)
        if probe.returncode != 0:
            sys.exit(f"--delay: this kernel cannot delay packets ({probe.stderr.strip()}); use --delay 0")
        netem(0)
    if subprocess.run([NODE, "status", "--name", "twodc"], capture_output=True).returncode != 0:
        sh(NODE, "start", "--name", "twodc")

    print(f"binary {binary}; {a.scripts} data scripts per deploy; median of {a.runs} runs")
    print(f"{'one-way delay to dc2':>22} {'history_consistency':>20} {'deploy s':>9} {'ms/script':>10}")
    try:
        for delay in delays:
            netem(delay)
            for consistency in ("quorum", "local_quorum"):
                walls = []
                for run in range(a.runs):
                    tag = f"fence{delay}{consistency[0]}{run}{int(time.time()) % 100000}"
                    ks, hist = f"bench_{tag}", f"bench_{tag}_h"
                    for k in (ks, hist):
                        cql(f"CREATE KEYSPACE {k} WITH replication = "
                            "{'class': 'NetworkTopologyStrategy', 'dc1': 1, 'dc2': 1}")
                    cql(f"CREATE TABLE {ks}.t (k int PRIMARY KEY)")
                    with tempfile.TemporaryDirectory() as d:
                        os.makedirs(os.path.join(d, "migrations"))
                        with open(os.path.join(d, "migrations", "V0__warm.cql"), "w") as f:
                            f.write("INSERT INTO t (k) VALUES (0);\n")
                        with open(os.path.join(d, "cassachange.yml"), "w") as f:
                            f.write(f"hosts: [{DC1}]\nport: {PORT}\nkeyspace: {ks}\n"
                                    f"history_keyspace: {hist}\n"
                                    f"history_consistency: {consistency}\n")
                        # A first deploy creates the history tables: first-run setup is
                        # not the fence's cost.
                        subprocess.run([binary, "deploy"], cwd=d, check=True, capture_output=True)
                        for i in range(1, a.scripts + 1):
                            with open(os.path.join(d, "migrations", f"V{i}__row{i}.cql"), "w") as f:
                                f.write(f"INSERT INTO t (k) VALUES ({i});\n")
                        start = time.perf_counter()
                        r = subprocess.run([binary, "deploy"], cwd=d, capture_output=True, text=True)
                        wall = time.perf_counter() - start
                        if r.returncode != 0:
                            sys.exit(f"deploy failed ({consistency}, {delay} ms):\n{r.stdout}{r.stderr}")
                        walls.append(wall)
                    for k in (ks, hist):
                        cql(f"DROP KEYSPACE {k}")
                w = statistics.median(walls)
                print(f"{delay:>19} ms {consistency:>20} {w:>9.2f} {1000 * w / a.scripts:>10.0f}")
    finally:
        netem(0)


if __name__ == "__main__":
    main()
