"""A local stand-in of Azure Key Vault and of the Entra ID token endpoints, over HTTPS,
for cassachange's Key Vault tests (the lowkey-vault emulator is not served by the
registries this project reaches; see tests/services/README.md).

It speaks what the Rust Azure SDK sends:
  POST /<tenant>/oauth2/v2.0/token     client secret or client assertion (workload identity)
  GET  /msi/token                      managed identity, App Service flavour
                                       (IDENTITY_ENDPOINT + IDENTITY_HEADER)
  GET  /secrets/<name>[/<version>]     Key Vault secrets API: 401 with a Bearer challenge
                                       without a token it issued, 403 for the no-access
                                       identity, 404 for a missing secret
  PUT  /secrets/<name>                 (tests) a new version, with the admin token

Usage: akv_standin.py PORT CERT KEY    (the values it accepts are printed by akv.sh env)
"""

import json
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TENANT = "cassachange-test-tenant"
CLIENT_ID = "cassachange-ci"
NO_ACCESS_CLIENT_ID = "cassachange-noaccess"
CLIENT_SECRET = "standin-client-secret-8f2a61"
FEDERATED_TOKEN = "standin-federated-token-5c9d"
IDENTITY_HEADER = "standin-identity-header-3e7b"
ADMIN_TOKEN = "standin-admin-token-71d4"

LOCK = threading.Lock()
TOKENS = {}  # issued access token -> may read secrets
SECRETS = {}  # name -> [(version, value)]


def issue(access):
    token = "akv-" + uuid.uuid4().hex
    with LOCK:
        TOKENS[token] = access
    return token


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def reply(self, status, body, headers=()):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def bearer(self):
        auth = self.headers.get("Authorization") or ""
        return auth[7:] if auth.startswith("Bearer ") else None

    def challenge(self):
        base = "https://" + self.headers.get("Host", "127.0.0.1")
        self.reply(
            401,
            {"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer token."}},
            [("WWW-Authenticate",
              f'Bearer authorization="https://login.microsoftonline.com/{TENANT}", '
              f'resource="https://vault.azure.net"')],
        )
        return base

    def do_POST(self):
        path = urllib.parse.urlparse(self.path).path
        form = urllib.parse.parse_qs(self.body().decode())
        get = lambda k: (form.get(k) or [""])[0]
        if path != f"/{TENANT}/oauth2/v2.0/token":
            return self.reply(400, {"error": "invalid_request",
                                    "error_description": f"AADSTS90002: Tenant not found ({path})."})
        client = get("client_id")
        ok = client in (CLIENT_ID, NO_ACCESS_CLIENT_ID) and (
            get("client_secret") == CLIENT_SECRET or get("client_assertion") == FEDERATED_TOKEN
        )
        if not ok:
            return self.reply(401, {"error": "invalid_client",
                                    "error_description": "AADSTS7000215: Invalid client secret provided."})
        token = issue(client == CLIENT_ID)
        self.reply(200, {"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600,
                         "access_token": token})

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        parts = [p for p in url.path.split("/") if p]
        if parts[:2] == ["msi", "token"]:
            if self.headers.get("x-identity-header") != IDENTITY_HEADER:
                return self.reply(401, {"error": "invalid_request",
                                        "error_description": "wrong X-IDENTITY-HEADER"})
            q = urllib.parse.parse_qs(url.query)
            return self.reply(200, {"access_token": issue(True),
                                    "expires_on": str(int(time.time()) + 3600),
                                    "resource": (q.get("resource") or [""])[0],
                                    "token_type": "Bearer", "client_id": CLIENT_ID})
        if not parts or parts[0] != "secrets" or len(parts) not in (2, 3):
            return self.reply(404, {"error": {"code": "NotFound", "message": url.path}})
        token = self.bearer()
        with LOCK:
            access = TOKENS.get(token)
        if access is None:
            return self.challenge()
        if not access:
            return self.reply(403, {"error": {"code": "Forbidden", "message":
                "The user, group or application does not have secrets get permission on key vault."}})
        name, version = parts[1], (parts[2] if len(parts) == 3 else None)
        with LOCK:
            versions = list(SECRETS.get(name, []))
        chosen = versions[-1] if versions and version is None else next(
            (v for v in versions if v[0] == version), None)
        if chosen is None:
            return self.reply(404, {"error": {"code": "SecretNotFound", "message":
                f"A secret with (name/id) {name} was not found in this key vault."}})
        base = "https://" + self.headers.get("Host", "127.0.0.1")
        self.reply(200, {"value": chosen[1], "id": f"{base}/secrets/{name}/{chosen[0]}",
                         "attributes": {"enabled": True}})

    def do_PUT(self):
        parts = [p for p in urllib.parse.urlparse(self.path).path.split("/") if p]
        if self.bearer() != ADMIN_TOKEN or len(parts) != 2 or parts[0] != "secrets":
            return self.reply(403, {"error": {"code": "Forbidden", "message": "admin only"}})
        value = json.loads(self.body() or b"{}").get("value", "")
        version = uuid.uuid4().hex
        with LOCK:
            SECRETS.setdefault(parts[1], []).append((version, value))
        self.reply(200, {"id": f"/secrets/{parts[1]}/{version}", "value": value})


def main():
    port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(f"listening on https://127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
