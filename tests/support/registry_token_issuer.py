#!/usr/bin/python3
"""A token issuer for a registry configured with `auth: token` (the distribution token
protocol): GET /token?service=...&scope=...[&scope=...] with optional HTTP basic
credentials answers {"token", "access_token", "expires_in", "issued_at"}, a JWT signed
RS256 with a key this module generates, carrying the libtrust key id that distribution
computes from the certificate in its `rootcertbundle`.

    python3 registry_token_issuer.py --dir DIR --users alice:pw:repo-prefix=pull,push ...

writes DIR/cert.pem (give it to the registry as rootcertbundle), serves on 127.0.0.1 on a
free port, prints "PORT <n>" on stdout, and appends one JSON line per token request to
DIR/requests.log ({"user", "scope", "status"}) so tests can count them. Anonymous
requests get the actions given with --anonymous (default none).
"""
import argparse
import base64
import datetime
import hashlib
import http.server
import json
import os
import sys
import threading
import time
import urllib.parse
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def libtrust_key_id(public_key):
    """distribution's key id: base32 of the first 240 bits of the SHA-256 of the DER
    SubjectPublicKeyInfo, in 12 groups of 4 joined by ':'."""
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(b32[i:i + 4] for i in range(0, 48, 4))


def make_key(directory):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "glarex test token issuer")])
    now = datetime.datetime.utcnow()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .sign(key, hashes.SHA256()))
    with open(os.path.join(directory, "cert.pem"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return key


def parse_user(spec):
    """alice:pw:glarex/=pull,push;other/=pull -> ("alice", "pw", {"glarex/": [...]})"""
    user, password, grants = (spec.split(":", 2) + [""])[:3]
    acl = {}
    for grant in filter(None, grants.split(";")):
        prefix, _, actions = grant.partition("=")
        acl[prefix] = [a for a in actions.split(",") if a]
    return user, password, acl


class Issuer:
    def __init__(self, directory, users, anonymous, issuer, lifetime):
        self.directory = directory
        self.key = make_key(directory)
        self.kid = libtrust_key_id(self.key.public_key())
        self.users = {u: (p, acl) for u, p, acl in users}
        self.anonymous = anonymous
        self.issuer = issuer
        self.lifetime = lifetime
        self.lock = threading.Lock()

    def log(self, entry):
        with self.lock, open(os.path.join(self.directory, "requests.log"), "a") as f:
            f.write(json.dumps(entry) + "\n")

    def grant(self, acl, scopes):
        access = []
        for scope in scopes:
            parts = scope.split(":")
            if len(parts) < 3 or parts[0] != "repository":
                continue
            name, wanted = ":".join(parts[1:-1]), parts[-1].split(",")
            allowed = set()
            for prefix, actions in acl.items():
                if name.startswith(prefix):
                    allowed |= set(actions)
            if "*" in allowed:
                allowed |= {"pull", "push", "delete"}
            got = [a for a in wanted if a in allowed]
            access.append({"type": "repository", "name": name, "actions": got})
        return access

    def token(self, user, service, access):
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        claims = {"iss": self.issuer, "sub": user, "aud": service, "exp": now + self.lifetime,
                  "nbf": now - 5, "iat": now, "jti": uuid.uuid4().hex, "access": access}
        signing_input = (b64url(json.dumps(header).encode()) + "." +
                         b64url(json.dumps(claims).encode()))
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64url(signature)


def handler_for(issuer):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="glarex test issuer"')
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            scopes = query.get("scope", [])
            user, acl = "", issuer.anonymous
            auth = self.headers.get("Authorization", "")
            if url.path != "/token":
                return self.answer(404, {"error": "not found"})
            if auth.startswith("Basic "):
                try:
                    user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                except ValueError:
                    user, password = "", None
                known = issuer.users.get(user)
                if not known or known[0] != password:
                    issuer.log({"user": user, "scope": scopes, "status": 401})
                    return self.answer(401, {"errors": [{"code": "UNAUTHORIZED",
                                                         "message": "bad credentials"}]})
                acl = known[1]
            access = issuer.grant(acl, scopes)
            issuer.log({"user": user, "scope": scopes, "status": 200})
            token = issuer.token(user, query.get("service", [""])[0], access)
            self.answer(200, {"token": token, "access_token": token,
                              "expires_in": issuer.lifetime,
                              "issued_at": datetime.datetime.utcnow().isoformat() + "Z"})

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--users", nargs="*", default=[])
    ap.add_argument("--anonymous", default="", help="prefix=actions;... for anonymous requests")
    ap.add_argument("--issuer", default="glarex-test-issuer")
    ap.add_argument("--lifetime", type=int, default=300)
    args = ap.parse_args()
    issuer = Issuer(args.dir, [parse_user(u) for u in args.users],
                    parse_user("::" + args.anonymous)[2], args.issuer, args.lifetime)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_for(issuer))
    print("PORT %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
