"""A local stand-in of AstraDB's front door, in front of a test Cassandra instance that
requires client certificates on TLS:

* an SNI router: it reads the TLS ClientHello, and passes the connection through (TLS
  is not terminated: the node does that) to the node whose host id is the server name;
  any other name is refused (connection closed);
* the metadata service: HTTPS that requires the bundle's client certificate, answering
  GET /metadata with the SNI proxy's address and the nodes' host ids, on four ports:
  a good one, one that answers 500, one that answers something that is not JSON, and
  one that names an SNI proxy nobody listens on;
* secure connect bundles (zip: config.json, ca.crt, cert, key) for each, plus one whose
  CA signed nothing here and one that is not a zip;
* a `token` role whose password is an AstraCS application token, so the node's real
  PasswordAuthenticator checks the token as Astra does.

Usage: astra_standin.py CONFIG.json   (written by astra.sh)
Writes OUT/bundle-*.zip, OUT/token, OUT/hosts.json, and logs each routed connection
("<sni> -> <node>" or "<sni> refused") to OUT/router.log.
"""

import asyncio
import io
import json
import os
import secrets
import ssl
import sys
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
from cassandra.policies import WhiteListRoundRobinPolicy


def sni_of(hello: bytes):
    """The server name of a TLS ClientHello handshake message, or None."""
    try:
        if hello[0] != 1:
            return None
        i = 4 + 2 + 32
        i += 1 + hello[i]
        i += 2 + int.from_bytes(hello[i:i + 2], "big")
        i += 1 + hello[i]
        end = i + 2 + int.from_bytes(hello[i:i + 2], "big")
        i += 2
        while i + 4 <= end:
            kind = int.from_bytes(hello[i:i + 2], "big")
            size = int.from_bytes(hello[i + 2:i + 4], "big")
            data = hello[i + 4:i + 4 + size]
            if kind == 0 and len(data) > 5 and data[2] == 0:
                n = int.from_bytes(data[3:5], "big")
                return data[5:5 + n].decode()
            i += 4 + size
    except (IndexError, UnicodeDecodeError):
        return None
    return None


class Router:
    def __init__(self, routes, log_path):
        self.routes = routes
        self.log_path = log_path
        self.lock = threading.Lock()

    def log(self, line):
        with self.lock, open(self.log_path, "a") as f:
            f.write(line + "\n")

    async def handle(self, reader, writer):
        try:
            head = await reader.readexactly(5)
            if head[0] != 0x16:
                self.log("not-tls refused")
                return writer.close()
            body = await reader.readexactly(int.from_bytes(head[3:5], "big"))
            sni = sni_of(body)
            node = self.routes.get(sni or "")
            if node is None:
                self.log(f"{sni} refused")
                return writer.close()
            self.log(f"{sni} -> {node[0]}:{node[1]}")
            br, bw = await asyncio.open_connection(node[0], node[1])
            bw.write(head + body)
            await bw.drain()

            async def pipe(r, w):
                try:
                    while data := await r.read(65536):
                        w.write(data)
                        await w.drain()
                except (ConnectionError, asyncio.IncompleteReadError):
                    pass
                finally:
                    w.close()

            await asyncio.gather(pipe(reader, bw), pipe(br, writer))
        except (ConnectionError, asyncio.IncompleteReadError):
            writer.close()

    def serve(self, port):
        async def main():
            server = await asyncio.start_server(self.handle, "127.0.0.1", port)
            async with server:
                await server.serve_forever()

        asyncio.run(main())


def metadata_server(port, mode, doc, cfg):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            if self.path.split("?")[0] != "/metadata":
                body, status = b"not found", 404
            elif mode == "500":
                body, status = b'{"message":"internal error"}', 500
            elif mode == "badjson":
                body, status = b"<html>maintenance</html>", 200
            else:
                body, status = json.dumps(doc).encode(), 200
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cfg["server_cert"], cfg["server_key"])
    ctx.load_verify_locations(cfg["ca"])
    ctx.verify_mode = ssl.CERT_REQUIRED
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()


def bundle(path, port, cfg, ca_path):
    config = {"host": "localhost", "port": port, "keyspace": cfg.get("keyspace", ""),
              "localDC": "datacenter1", "caCertLocation": "./ca.crt",
              "keyLocation": "./key", "certLocation": "./cert"}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", json.dumps(config))
        z.write(ca_path, "ca.crt")
        z.write(cfg["client_cert"], "cert")
        z.write(cfg["client_key"], "key")


def main():
    cfg = json.load(open(sys.argv[1]))
    out = cfg["out"]
    os.makedirs(out, exist_ok=True)
    first = cfg["nodes"][0]
    ssl_ctx = None
    # Every query goes to the first node: system.local and system.peers_v2 must describe
    # the ring from the same node's point of view.
    pinned = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([first[0]]))
    cluster = Cluster([first[0]], port=first[1],
                      auth_provider=PlainTextAuthProvider("cassandra", "cassandra"),
                      ssl_context=ssl_ctx,
                      execution_profiles={EXEC_PROFILE_DEFAULT: pinned})
    session = cluster.connect()
    # Every configured node, once gossip has told the first one about the others.
    for _ in range(120):
        routes = {}
        try:
            for row in session.execute("SELECT host_id, rpc_address FROM system.local", timeout=5):
                routes[str(row.host_id)] = (row.rpc_address, first[1])
            for row in session.execute(
                    "SELECT host_id, native_address, native_port FROM system.peers_v2", timeout=5):
                routes[str(row.host_id)] = (row.native_address, row.native_port or first[1])
        except Exception as e:  # noqa: BLE001 - a node still starting; ask again
            print(f"asking for the nodes again: {e}", flush=True)
        if len(routes) >= len(cfg["nodes"]):
            break
        time.sleep(0.5)
    else:
        raise SystemExit(f"only {len(routes)} of {len(cfg['nodes'])} nodes are visible")
    token_file = os.path.join(out, "token")
    known = os.path.exists(token_file)
    token = open(token_file).read().strip() if known else \
        "AstraCS:" + secrets.token_hex(12) + ":" + secrets.token_hex(32)
    exists = list(session.execute("SELECT role FROM system_auth.roles WHERE role = 'token'"))
    if not exists:
        session.execute("CREATE ROLE \"token\" WITH PASSWORD = %s AND LOGIN = true "
                        "AND SUPERUSER = true", (token,))
    elif not known:
        # Cassandra 5 allows one password change every few seconds.
        for attempt in range(10):
            try:
                session.execute("ALTER ROLE \"token\" WITH PASSWORD = %s", (token,))
                break
            except Exception:  # noqa: BLE001 - the rate-limit guardrail
                if attempt == 9:
                    raise
                time.sleep(1)
    cluster.shutdown()
    with open(token_file + ".tmp", "w") as f:
        f.write(token)
    os.replace(token_file + ".tmp", token_file)

    router_port = cfg["router_port"]
    doc = {"version": 1, "region": "local",
           "contact_info": {"type": "sni_proxy", "local_dc": "datacenter1",
                            "contact_points": sorted(routes),
                            "sni_proxy_address": f"localhost:{router_port}"}}
    noproxy = json.loads(json.dumps(doc))
    noproxy["contact_info"]["sni_proxy_address"] = "localhost:1"
    ports = cfg["metadata_ports"]
    for mode, port in ports.items():
        metadata_server(port, mode, noproxy if mode == "noproxy" else doc, cfg)
        bundle(os.path.join(out, f"bundle-{mode}.zip"), port, cfg, cfg["ca"])
    bundle(os.path.join(out, "bundle-otherca.zip"), ports["ok"], cfg, cfg["other_ca"])
    with open(os.path.join(out, "bundle-corrupt.zip"), "wb") as f:
        f.write(b"PK\x03\x04 this is not a whole zip")
    with open(os.path.join(out, "hosts.json"), "w") as f:
        json.dump({k: list(v) for k, v in routes.items()}, f)
    print(f"routing {len(routes)} node(s) on 127.0.0.1:{router_port}", flush=True)
    Router(routes, os.path.join(out, "router.log")).serve(router_port)


if __name__ == "__main__":
    main()
