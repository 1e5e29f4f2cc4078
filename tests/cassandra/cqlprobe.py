"""CQL helper for node.sh (runs in the cassachange test venv, needs cassandra-driver).

  cqlprobe.py wait  --host IP --port P [--pid PID] [--timeout S] [--peers K] [--all-up]
                    [--answering] [auth/tls]
      Poll until `SELECT release_version FROM system.local` succeeds on that node alone
      (and, with --peers K, until the node lists >= K rows in system.peers; with --all-up,
      until a read at consistency ALL of a replicated system table succeeds there; with
      --answering, a refused login also counts: the node speaks CQL).
      Exit 0 when ready (prints the release version), 2 when PID died, 3 on timeout.
  cqlprobe.py query --hosts IP[,IP..] --port P [auth/tls] "<CQL statement>"
      Run one statement; print column names and rows separated by " | ".

  auth/tls: [--user U --password PW] [--ca CA.pem [--cert C.pem --key K.pem]]
"""

import argparse
import logging
import os
import socket
import ssl
import sys
import time


def _alive(pid):
    if pid is None:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def _port_open(host, port):
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _ssl_context(args):
    if not args.ca:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(args.ca)
    # The server certificate carries IP SANs, but a v1 one (instance tlsv1) has none.
    ctx.check_hostname = not args.no_hostname
    ctx.verify_mode = ssl.CERT_REQUIRED
    if args.cert:
        ctx.load_cert_chain(args.cert, args.key)
    return ctx


def _cluster(args, hosts, whitelist=False, timeout=30.0):
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import (DCAwareRoundRobinPolicy, RetryPolicy,
                                    WhiteListRoundRobinPolicy)

    if whitelist:
        lbp = WhiteListRoundRobinPolicy(hosts)
    else:
        lbp = DCAwareRoundRobinPolicy(local_dc=args.local_dc)
    profile = ExecutionProfile(load_balancing_policy=lbp, request_timeout=timeout,
                               retry_policy=RetryPolicy())
    kwargs = dict(contact_points=hosts, port=args.port,
                  execution_profiles={EXEC_PROFILE_DEFAULT: profile},
                  connect_timeout=5, control_connection_timeout=5)
    if args.user:
        kwargs["auth_provider"] = PlainTextAuthProvider(args.user, args.password)
    ctx = _ssl_context(args)
    if ctx is not None:
        kwargs["ssl_context"] = ctx
    if whitelist:
        # Probing one node: do not chase the other nodes of the ring.
        kwargs["schema_metadata_enabled"] = False
        kwargs["token_metadata_enabled"] = False
    return Cluster(**kwargs)


def cmd_wait(args):
    logging.basicConfig(level=logging.CRITICAL)
    from cassandra import ConsistencyLevel
    from cassandra.query import SimpleStatement

    deadline = time.monotonic() + args.timeout
    last = "CQL port not open yet"
    while True:
        if not _alive(args.pid):
            print(f"process {args.pid} died while waiting for {args.host}:{args.port}",
                  file=sys.stderr)
            return 2
        if time.monotonic() > deadline:
            print(f"timed out after {args.timeout:.0f}s waiting for {args.host}:{args.port}"
                  f" (last: {last})", file=sys.stderr)
            return 3
        if not _port_open(args.host, args.port):
            time.sleep(1.0)
            continue
        cluster = None
        try:
            cluster = _cluster(args, [args.host], whitelist=True, timeout=10.0)
            session = cluster.connect()
            row = session.execute("SELECT release_version FROM system.local").one()
            version = row.release_version
            if args.peers:
                peers = list(session.execute("SELECT peer FROM system.peers"))
                if len(peers) < args.peers:
                    raise RuntimeError(f"{len(peers)} of {args.peers} peers known")
            if args.all_up:
                # system_distributed has RF 3: a range read at ALL needs every replica UP.
                stmt = SimpleStatement(
                    "SELECT keyspace_name FROM system_distributed.view_build_status LIMIT 1",
                    consistency_level=ConsistencyLevel.ALL)
                session.execute(stmt)
            print(version)
            return 0
        except Exception as exc:  # not ready yet: port closed, login not set up, peers missing...
            last = f"{type(exc).__name__}: {exc}"
            # --answering: a login the server refuses still proves the node speaks CQL (a
            # restarted auth cluster cannot log in until a quorum of nodes is back).
            if args.answering and "AuthenticationFailed" in last:
                print("answering")
                return 0
            if os.environ.get("CQLPROBE_DEBUG"):
                print(last, file=sys.stderr)
        finally:
            if cluster is not None:
                cluster.shutdown()
        time.sleep(1.0)


def _fmt(value):
    if value is None:
        return "null"
    return str(value)


def cmd_query(args):
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    hosts = [h for h in args.hosts.split(",") if h]
    cluster = _cluster(args, hosts, timeout=args.timeout)
    try:
        session = cluster.connect()
        result = session.execute(args.statement)
        names = list(result.column_names or [])
        if names:
            print(" | ".join(names))
            count = 0
            for row in result:
                print(" | ".join(_fmt(v) for v in row))
                count += 1
            print(f"({count} rows)")
        else:
            print("OK")
        return 0
    except Exception as exc:  # report the driver's message, no traceback
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        cluster.shutdown()


def main():
    parser = argparse.ArgumentParser(prog="cqlprobe.py")
    sub = parser.add_subparsers(dest="cmd", required=True)

    def common(p):
        p.add_argument("--port", type=int, default=9042)
        p.add_argument("--user")
        p.add_argument("--password")
        p.add_argument("--ca")
        p.add_argument("--cert")
        p.add_argument("--key")
        p.add_argument("--no-hostname", action="store_true")
        p.add_argument("--local-dc", default="datacenter1")

    w = sub.add_parser("wait")
    common(w)
    w.add_argument("--host", required=True)
    w.add_argument("--pid", type=int)
    w.add_argument("--timeout", type=float, default=180.0)
    w.add_argument("--peers", type=int, default=0)
    w.add_argument("--all-up", action="store_true")
    w.add_argument("--answering", action="store_true")

    q = sub.add_parser("query")
    common(q)
    q.add_argument("--hosts", required=True)
    q.add_argument("--timeout", type=float, default=30.0)
    q.add_argument("statement")

    args = parser.parse_args()
    return cmd_wait(args) if args.cmd == "wait" else cmd_query(args)


if __name__ == "__main__":
    sys.exit(main())
