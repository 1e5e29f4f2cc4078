#!/usr/bin/env python3
"""Benchmark (not a test): `cassachange validate` on a generated 4,000-script tree,
ours (release build) against the Python cassachange 1.0.0.

Usage: tests/bench/validate.py [--scripts 4000] [--runs 5]
Prints median/min wall time and peak RSS of each tool and the speed ratio.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CACHE = os.environ.get("CASSACHANGE_CACHE", os.path.expanduser("~/.cache/cassachange"))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(CACHE, "target"))

BODY = """-- {name}: generated for the validate benchmark
CREATE TABLE IF NOT EXISTS t_{n} (
    id        uuid,
    bucket    int,
    at        timeuuid,
    payload   text,
    tags      set<text>,
    attrs     map<text, frozen<list<int>>>,
    PRIMARY KEY ((id, bucket), at)
) WITH CLUSTERING ORDER BY (at DESC)
  AND comment = 'table {n}';

ALTER TABLE t_{n} ADD IF NOT EXISTS note_{n} text;
CREATE INDEX IF NOT EXISTS t_{n}_payload ON t_{n} (payload) USING 'sai';
INSERT INTO t_{n} (id, bucket, at, payload, tags)
VALUES (uuid(), {n}, now(), 'row {n}', {{'a', 'b'}}) USING TTL 86400;
UPDATE t_{n} SET tags = tags + {{'c'}} WHERE id = 123e4567-e89b-12d3-a456-426614174000
    AND bucket = {n} AND at = e7b0c1a0-8b9a-11ee-b9d1-0242ac120002;
"""


def generate(root, count):
    undo_every = 8
    n = 0
    for i in range(count):
        module = os.path.join(root, f"module_{i % 40:02d}")
        os.makedirs(module, exist_ok=True)
        if i % 50 == 49:
            name = f"R__view_{i}.cql"
        elif i % 100 == 98:
            name = f"A__grants_{i}.cql"
        elif i % undo_every == 7 and n > 0:
            name = f"U{n // 100}.{n % 100}.0__undo_{n}.cql"
        else:
            n += 1
            name = f"V{n // 100}.{n % 100}.0__change_{n}.cql"
        with open(os.path.join(module, name), "w", encoding="utf-8") as f:
            f.write(BODY.format(name=name, n=i))


def timed(cmd, runs):
    """Wall time and CPU time (user+sys) of each run, and the peak RSS (KiB) over all
    runs, via /usr/bin/time."""
    times, cpu, peak = [], [], 0
    for _ in range(runs):
        with tempfile.NamedTemporaryFile() as tf:
            start = time.perf_counter()
            subprocess.run(["/usr/bin/time", "-f", "%M %U %S", "-o", tf.name] + cmd,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times.append(time.perf_counter() - start)
            rss, user, sys_ = open(tf.name).read().split()[-3:]
            peak = max(peak, int(rss))
            cpu.append(float(user) + float(sys_))
    return times, cpu, peak


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scripts", type=int, default=4000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    subprocess.run(["cargo", "build", "--release", "-q", "-p", "cassachange"], cwd=REPO, check=True,
                   env={**os.environ, "CARGO_TARGET_DIR": TARGET})
    ours = os.path.join(TARGET, "release", "cassachange")
    venv_bin = subprocess.run([os.path.join(REPO, "tests/cassandra/node.sh"), "venv"],
                              check=True, capture_output=True, text=True).stdout.strip()
    python_tool = os.path.join(venv_bin, "cassachange")

    root = tempfile.mkdtemp(prefix="cassachange-bench-")
    try:
        generate(os.path.join(root, "migrations"), args.scripts)
        rows = []
        for label, cmd in [("cassachange (Rust)", [ours, "validate", "--root-folder", "migrations"]),
                           ("cassachange 1.0.0 (Python)", [python_tool, "validate", "--root-folder", "migrations"])]:
            os.chdir(root)
            timed(cmd, 1)  # warm the page cache
            times, cpu, peak = timed(cmd, args.runs)
            rows.append((label, statistics.median(times), min(times), statistics.median(cpu), peak))
        print(f"validate on {args.scripts} scripts, {args.runs} runs each")
        print(f"  {'':<28} {'wall median':>12} {'wall min':>10} {'CPU median':>11} {'peak RSS':>10}")
        for label, med, mn, cpu, peak in rows:
            print(f"  {label:<28} {med * 1000:9.1f} ms {mn * 1000:7.1f} ms {cpu * 1000:8.0f} ms {peak / 1024:6.1f} MiB")
        print(f"  speed-up, wall median: {rows[1][1] / rows[0][1]:.1f}x; wall min: {rows[1][2] / rows[0][2]:.1f}x; "
              f"CPU: {rows[1][3] / max(rows[0][3], 0.001):.1f}x")
        print(f"  load average during the run: {os.getloadavg()[0]:.2f} (numbers on a busy machine understate the gap)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
