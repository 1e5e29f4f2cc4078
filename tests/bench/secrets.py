#!/usr/bin/env python3
"""Benchmark (not a test): what each secret backend adds to a run. The release binary
with the release plugin (all backends) runs `status` on the local node ('default'
instance, started if needed) with `history_keyspace` taken from each backend in turn —
OpenBao (Vault), moto (SSM, Secrets Manager), our Key Vault stand-in — against the same
run with no secrets block. Prints the median wall time of N runs each and the
difference. The services are started by their scripts when not running.

Usage: tests/bench/secrets.py [--runs 5] [--bin PATH --plugin PATH]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CACHE = os.environ.get("CASSACHANGE_CACHE", os.path.expanduser("~/.cache/cassachange"))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(CACHE, "target"))
NODE = os.path.join(REPO, "tests/cassandra/node.sh")
SERVICES = os.path.join(REPO, "tests/services")


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def service_env(name):
    sh(os.path.join(SERVICES, f"{name}.sh"), "start")
    env = {}
    for line in sh(os.path.join(SERVICES, f"{name}.sh"), "env").splitlines():
        k, _, v = line.removeprefix("export ").partition("=")
        env[k] = v
    return env


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--bin")
    ap.add_argument("--plugin")
    args = ap.parse_args()
    if not (args.bin and args.plugin):
        env = {**os.environ, "CARGO_TARGET_DIR": TARGET}
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "cassachange",
                        "-p", "cassachange-enterprise"], cwd=REPO, check=True, env=env)
        args.bin = os.path.join(TARGET, "release", "cassachange")
        args.plugin = os.path.join(TARGET, "release", "libcassachange_enterprise.so")
    sh(NODE, "start")
    bao, moto, akv = service_env("openbao"), service_env("moto"), service_env("akv")
    work = tempfile.mkdtemp(prefix="cassachange-bench-secrets-")
    try:
        shutil.copy(args.bin, os.path.join(work, "cassachange"))
        shutil.copy(args.plugin, os.path.join(work, os.path.basename(args.plugin)))
        history = "bench_secrets_h"
        sh(NODE, "cql", f"CREATE KEYSPACE IF NOT EXISTS {history} WITH replication = "
                        "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        name = "bench-" + uuid.uuid4().hex[:8]
        # Put the value in each backend.
        subprocess.run([bao["OPENBAO_BIN"], "kv", "put", f"secret/{name}", f"ks={history}"],
                       check=True, capture_output=True,
                       env={**os.environ, "BAO_ADDR": bao["OPENBAO_ADDR"],
                            "BAO_TOKEN": bao["OPENBAO_ROOT_TOKEN"]})
        aws_env = {"AWS_ENDPOINT_URL": moto["MOTO_ADDR"], "AWS_REGION": "us-east-1",
                   "AWS_ACCESS_KEY_ID": "AKIAMOTOTEST", "AWS_SECRET_ACCESS_KEY": "bench-secret",
                   "AWS_EC2_METADATA_DISABLED": "true"}
        subprocess.run([moto["MOTO_PYTHON"], "-c",
                        "import boto3,sys; kw=dict(endpoint_url=sys.argv[1], region_name='us-east-1', "
                        "aws_access_key_id='AKIAMOTOTEST', aws_secret_access_key='bench-secret'); "
                        "boto3.client('ssm', **kw).put_parameter(Name='/'+sys.argv[2], Value=sys.argv[3], Type='SecureString'); "
                        "boto3.client('secretsmanager', **kw).create_secret(Name=sys.argv[2], SecretString=sys.argv[3])",
                        moto["MOTO_ADDR"], name, history], check=True)
        import json
        import ssl
        import urllib.request
        req = urllib.request.Request(f"{akv['AKV_URL']}/secrets/{name}", method="PUT",
                                     data=json.dumps({"value": history}).encode(),
                                     headers={"Authorization": f"Bearer {akv['AKV_ADMIN_TOKEN']}",
                                              "Content-Type": "application/json"})
        urllib.request.urlopen(req, context=ssl.create_default_context(cafile=akv["AKV_CACERT"])).read()
        azure_env = {"CASSACHANGE_AZURE_KEYVAULT_URL": akv["AKV_URL"],
                     "CASSACHANGE_AZURE_CACERT": akv["AKV_CACERT"],
                     "AZURE_AUTHORITY_HOST": akv["AKV_URL"], "AZURE_TENANT_ID": akv["AKV_TENANT"],
                     "AZURE_CLIENT_ID": akv["AKV_CLIENT_ID"],
                     "AZURE_CLIENT_SECRET": akv["AKV_CLIENT_SECRET"]}
        cases = [
            ("no secrets", None, {}),
            ("vault", f"vault://secret/{name}#ks",
             {"VAULT_ADDR": bao["OPENBAO_ADDR"], "VAULT_TOKEN": bao["OPENBAO_ROOT_TOKEN"]}),
            ("ssm", f"ssm:///{name}", aws_env),
            ("asm", f"asm://{name}", aws_env),
            ("azure", f"akv://benchvault/{name}", azure_env),
        ]
        results = {}
        for label, uri, extra in cases:
            with open(os.path.join(work, "cassachange.yml"), "w") as f:
                f.write("hosts: [127.0.0.1]\nport: 9042\nkeyspace: system_auth\n")
                if uri:
                    f.write(f"secrets:\n  history_keyspace: {uri}\n")
                else:
                    f.write(f"history_keyspace: {history}\n")
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                r = subprocess.run([os.path.join(work, "cassachange"), "status"], cwd=work,
                                   env={**os.environ, **extra}, capture_output=True, text=True)
                times.append(time.perf_counter() - start)
                if r.returncode != 0:
                    sys.exit(f"{label}: exit {r.returncode}\n{r.stdout[-1500:]}{r.stderr[-1500:]}")
            results[label] = statistics.median(times)
        base = results["no secrets"]
        for label, t in results.items():
            extra = "" if label == "no secrets" else f"  (+{(t - base) * 1000:.0f} ms)"
            print(f"{label:<11} status median {t * 1000:7.0f} ms{extra}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
