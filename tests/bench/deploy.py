#!/usr/bin/env python3
"""Benchmark (not a test): deploy on the local Cassandra node ('default' instance of
tests/cassandra/node.sh, started if needed), ours (release build) against the Python
cassachange 1.0.0, same node, same run:

  (a) a 100-script DDL deploy into an empty keyspace; also a bare loop running the
      same statements with the scylla driver and nothing else (our overhead);
  (b) a no-op deploy over 20 and 200 keyspaces with 100 applied scripts each;
  (c) `cassachange drift` over those keyspaces.

Prints wall times, peak RSS and ratios, for the community binary, the binary with the
plugin beside it (audit log on), the Python tool and the bare loop.
Usage: tests/bench/deploy.py [--runs 5] [--keyspaces 20,200] [--skip-ddl] [--skip-python]
"""
import argparse
import os
import re
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
NODE = os.path.join(REPO, "tests/cassandra/node.sh")


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def cql(stmt):
    sh(NODE, "cql", stmt)


def timed(cmd, cwd, env=None, statements=None):
    """(wall s, peak RSS KiB); with `statements`, the run's own statement times (s) are
    parsed from its output and appended there."""
    with tempfile.NamedTemporaryFile() as tf:
        start = time.perf_counter()
        r = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", tf.name] + cmd, cwd=cwd,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env=env)
        wall = time.perf_counter() - start
        if r.returncode != 0:
            sys.exit(f"{cmd[0]} failed:\n{r.stdout[-2000:]}")
        if statements is not None:
            statements.append(statement_seconds(r.stdout))
        return wall, int(open(tf.name).read().split()[-1])


def statement_seconds(output):
    """The time spent in the scripts' statements: cassachange's debug log says
    '(script: 61.2ms)' per script (one statement each here); the bare loop prints each
    statement's milliseconds alone on a line (BARE_LOOP_TIMES)."""
    total = 0.0
    for line in output.splitlines():
        m = re.search(r"\(script: ([0-9.]+)(µs|ms|s)\)", line)
        if m:
            total += float(m.group(1)) * {"µs": 1e-6, "ms": 1e-3, "s": 1.0}[m.group(2)]
        elif re.fullmatch(r"[0-9]+\.[0-9]", line.strip()):
            total += float(line) / 1000
    return total


def keyspace(name):
    cql(f"DROP KEYSPACE IF EXISTS {name}")
    cql(f"CREATE KEYSPACE {name} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}")


def project(root, keyspaces, history, scripts):
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(os.path.join(root, "migrations"))
    with open(os.path.join(root, "cassachange.yml"), "w") as f:
        f.write("hosts: [127.0.0.1]\nport: 9042\n")
        f.write(f"keyspaces: [{', '.join(keyspaces)}]\nhistory_keyspace: {history}\n")
    for name, body in scripts:
        with open(os.path.join(root, "migrations", name), "w") as f:
            f.write(body)


def install(work, edition, ours, plugin=None):
    """The release binary in a folder of its own (the plugin is found beside the binary:
    the community edition must not run from the target dir, where the plugin is built),
    with the release plugin beside it for the enterprise edition, as customers install it."""
    d = os.path.join(work, edition)
    os.makedirs(d, exist_ok=True)
    shutil.copy(ours, os.path.join(d, "cassachange"))
    if plugin:
        shutil.copy(plugin, os.path.join(d, os.path.basename(plugin)))
    return os.path.join(d, "cassachange")


def report(title, rows, order):
    med = {k: statistics.median(w for w, _ in v) for k, v in rows.items()}
    rss = {k: max(r for _, r in v) for k, v in rows.items()}
    print(title)
    for label, k in order:
        print(f"    {label:<30} {med[k]:7.2f} s  {rss[k] / 1024:6.1f} MiB")
    return med, rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keyspaces", default="20,200", help="no-op deploy sizes (keyspaces)")
    ap.add_argument("--skip-ddl", action="store_true")
    ap.add_argument("--skip-python", action="store_true")
    args = ap.parse_args()
    env = {**os.environ, "CARGO_TARGET_DIR": TARGET}
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "cassachange", "-p", "cassachange-tests",
                    "--example", "bare_loop"], cwd=REPO, check=True, env=env)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "cassachange"], cwd=REPO, check=True, env=env)
    # The plugin without secret providers: the audit log is what costs a deploy.
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "cassachange-enterprise",
                    "--no-default-features"], cwd=REPO, check=True, env=env)
    ours = os.path.join(TARGET, "release", "cassachange")
    bare = os.path.join(TARGET, "release", "examples", "bare_loop")
    plugin = os.path.join(TARGET, "release", "libcassachange_enterprise.so")
    python_tool = os.path.join(sh(NODE, "venv").strip(), "cassachange")
    sh(NODE, "start")
    work = tempfile.mkdtemp(prefix="cassachange-bench-")
    community = install(work, "community", ours)
    enterprise = install(work, "enterprise", ours, plugin)
    tools = {"ours": [community], "enterprise": [enterprise], "python": [python_tool]}
    if args.skip_python:
        del tools["python"]
    try:
        if not args.skip_ddl:
            ddl = [(f"V1.{i}.0__table_{i}.cql",
                    f"CREATE TABLE IF NOT EXISTS t_{i} (id uuid PRIMARY KEY, v text, n int);\n")
                   for i in range(100)]
            rows = {k: [] for k in list(tools) + ["bare"]}
            stmts = {k: [] for k in rows}
            names = list(rows)
            for run in range(args.runs):
                # Each tool takes each place in turn: the node is not equally busy
                # right after the previous keyspaces were dropped.
                for tool in names[run % len(names):] + names[:run % len(names)]:
                    ks, hist = f"bench_a_{tool}", f"bench_a_{tool}_h"
                    keyspace(ks)
                    keyspace(hist)
                    root = os.path.join(work, f"a_{tool}")
                    project(root, [ks], hist, ddl)
                    if tool == "bare":
                        files = [os.path.join(root, "migrations", n) for n, _ in ddl]
                        rows[tool].append(timed([bare, "127.0.0.1:9042", ks] + files, root,
                                                {**os.environ, "BARE_LOOP_TIMES": "1"},
                                                stmts[tool]))
                    elif tool == "python":
                        rows[tool].append(timed(tools[tool] + ["deploy"], root))
                    else:
                        rows[tool].append(timed(tools[tool] + ["deploy"], root,
                                                {**os.environ, "CASSACHANGE_LOG": "cassachange=debug"},
                                                stmts[tool]))
                    cql(f"DROP KEYSPACE {ks}")
                    cql(f"DROP KEYSPACE {hist}")
            order = [("cassachange (Rust, community)", "ours"), ("cassachange + plugin", "enterprise"),
                     ("cassachange 1.0.0 (Python)", "python"), ("bare scylla loop", "bare")]
            med, _ = report(f"(a) 100-script DDL deploy into an empty keyspace, {args.runs} runs each "
                            "(median wall, peak RSS)", rows, [o for o in order if o[1] in rows])
            print(f"    ours / bare loop: {med['ours'] / med['bare']:.2f}x "
                  f"({1000 * (med['ours'] - med['bare']) / 100:.1f} ms per script); "
                  f"with the plugin: {med['enterprise'] / med['bare']:.2f}x")
            # The same ratios taken round by round (both measured minutes apart at most),
            # less sensitive to the node's speed drifting over the whole benchmark.
            for k, label in [("ours", "ours"), ("enterprise", "with the plugin")]:
                per = sorted(a[0] / b[0] for a, b in zip(rows[k], rows["bare"]))
                print(f"    {label} / bare, per round: median {statistics.median(per):.2f}x "
                      f"(rounds: {', '.join(f'{r:.2f}' for r in per)})")
            # Where the time goes: the wall minus the time the statements themselves took
            # (each tool's own measure, same runs) is what the tool adds; it does not move
            # with the node's DDL speed, which varies by 10-30 % from run to run.
            oh = {k: statistics.median(w - t for (w, _), t in zip(rows[k], stmts[k]))
                  for k in ("ours", "enterprise", "bare")}
            speed = statistics.median(stmts["bare"]) / 100
            print(f"    statements: {1000 * speed:.1f} ms each (median, bare loop; the node's DDL speed)")
            print(f"    time outside the statements: ours {1000 * oh['ours']:.0f} ms, with the plugin "
                  f"{1000 * oh['enterprise']:.0f} ms, bare loop {1000 * oh['bare']:.0f} ms")
            for k, label in [("ours", "ours"), ("enterprise", "with the plugin")]:
                extra = oh[k] - oh["bare"]
                at = (100 * speed + oh["bare"] + extra) / (100 * speed + oh["bare"])
                floor = max(0.0, (extra / 0.10 - oh["bare"]) / 100)
                print(f"    {label}: {1000 * extra:.0f} ms over the bare loop -> {at:.3f}x at this "
                      f"node's speed; within 1.10x whenever statements take >= {1000 * floor:.1f} ms")
            if "python" in med:
                print(f"    Python / ours: {med['python'] / med['ours']:.2f}x")

        # (b) no-op deploys over N keyspaces with 100 applied scripts each
        scripts = [("V0.0.1__table.cql", "CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY, v text);\n")]
        scripts += [(f"V1.{i}.0__row_{i}.cql", f"INSERT INTO t (id, v) VALUES ({i}, 'row {i}');\n")
                    for i in range(99)]
        for n in [int(x) for x in args.keyspaces.split(",") if x]:
            kss = [f"bench_b{n}_{i}" for i in range(n)]
            hist = f"bench_b{n}_h"
            for ks in kss + [hist]:
                keyspace(ks)
            root = os.path.join(work, f"b{n}")
            project(root, kss, hist, scripts)
            timed([ours, "deploy", "--no-preflight"], root)  # apply everything once
            b = {k: [] for k in tools}
            for _ in range(args.runs):
                for tool, cmd in tools.items():
                    b[tool].append(timed(cmd + ["deploy"], root))
            order = [("cassachange (Rust, community)", "ours"), ("cassachange + plugin", "enterprise"),
                     ("cassachange 1.0.0 (Python)", "python")]
            bmed, _ = report(f"(b) no-op deploy, {n} keyspaces x 100 applied scripts, {args.runs} runs each",
                             b, [o for o in order if o[1] in b])
            if "python" in bmed:
                print(f"    Python / ours: {bmed['python'] / bmed['ours']:.1f}x; "
                      f"Python / with the plugin: {bmed['python'] / bmed['enterprise']:.1f}x")
            # (c) `drift` over the same keyspaces (each recorded by the first deploy):
            # every keyspace's live schema read and compared with its record.
            d = {"ours": [timed([community, "drift"], root) for _ in range(args.runs)]}
            report(f"(c) drift, {n} keyspaces, {args.runs} runs", d,
                   [("cassachange drift", "ours")])
            for ks in kss + [hist]:
                cql(f"DROP KEYSPACE {ks}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
