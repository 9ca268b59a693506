"""A local stand-in for Microsoft's token issuers, for the Teams tests.

Serves, on 127.0.0.1 and a free port (printed as `PORT <n>` once ready):

  GET  /botframework/openid      Bot Framework OpenID metadata
  GET  /botframework/keys        its JWKS: RSA keys with x5t, x5c and
                                 endorsements, and no alg, as Microsoft's
  GET  /{tenant}/v2.0/.well-known/openid-configuration
                                 an Entra tenant's metadata
  GET  /entra/keys               its JWKS (no endorsements)
  POST /mint                     {"key", "claims", "kid"?, "alg"?} -> a token
                                 signed by PyJWT (or, for the attacks PyJWT
                                 refuses to make, by the standard library)
  POST /publish                  {"key", "issuer"}: publish another key
  GET  /hits                     how often each path above was fetched

Keys: "bf1" (endorsed for msteams), "bf_webchat" (endorsed for webchat
only), "entra1" (Entra), and "rogue" (never published: it signs under a
published key id to test that the id alone is not trusted).
"""

import base64
import datetime
import hashlib
import hmac
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def uint(n: int) -> str:
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


class Key:
    def __init__(self, kid, endorsements=None):
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.endorsements = endorsements
        now = datetime.datetime.now(datetime.timezone.utc)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "login.test.invalid")])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.private.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(self.private, hashes.SHA256())
        )
        self.der = cert.public_bytes(serialization.Encoding.DER)

    def jwk(self, kid=None):
        numbers = self.private.public_key().public_numbers()
        key = {
            "kty": "RSA",
            "use": "sig",
            "kid": kid or self.kid,
            "x5t": b64url(hashlib.sha1(self.der).digest()),
            "n": uint(numbers.n),
            "e": uint(numbers.e),
            "x5c": [base64.b64encode(self.der).decode()],
        }
        if self.endorsements is not None:
            key["endorsements"] = self.endorsements
        return key

    def public_pem(self):
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


KEYS = {
    "bf1": Key("bf1", ["msteams", "skype", "webchat"]),
    "bf_webchat": Key("bf_webchat", ["webchat"]),
    "entra1": Key("entra1"),
    "rogue": Key("bf1", ["msteams"]),
}
PUBLISHED = {"botframework": ["bf1", "bf_webchat"], "entra": ["entra1"]}
HITS = {}
LOCK = threading.Lock()


def hs256_with_public_key(claims, key):
    """The classic algorithm-confusion forgery: HMAC keyed with the public key."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode())
    payload = b64url(json.dumps(claims).encode())
    signing = f"{header}.{payload}".encode()
    mac = hmac.new(key.public_pem(), signing, hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(mac)}"


def mint(spec):
    key = KEYS[spec.get("key", "bf1")]
    claims = spec["claims"]
    alg = spec.get("alg", "RS256")
    kid = spec.get("kid", key.kid)
    if alg == "none":
        return jwt.encode(claims, None, algorithm="none", headers={"kid": kid})
    if alg == "HS256":
        return hs256_with_public_key(claims, key)
    return jwt.encode(claims, key.private, algorithm=alg, headers={"kid": kid})


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send_json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def base(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def do_GET(self):
        path = self.path
        if path == "/hits":
            with LOCK:
                return self.send_json(200, HITS)
        with LOCK:
            HITS[path] = HITS.get(path, 0) + 1
        if path == "/botframework/openid":
            return self.send_json(200, {
                "issuer": "https://api.botframework.com",
                "authorization_endpoint": "https://invalid.botframework.com",
                "jwks_uri": self.base() + "/botframework/keys",
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            })
        if path.endswith("/v2.0/.well-known/openid-configuration"):
            tenant = path.split("/")[1]
            return self.send_json(200, {
                "issuer": f"https://login.microsoftonline.com/{tenant}/v2.0",
                "jwks_uri": self.base() + "/entra/keys",
                "id_token_signing_alg_values_supported": ["RS256"],
            })
        if path in ("/botframework/keys", "/entra/keys"):
            issuer = path.split("/")[1]
            return self.send_json(200, {"keys": [KEYS[k].jwk() for k in PUBLISHED[issuer]]})
        self.send_json(404, {"error": "not found"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        if self.path == "/mint":
            return self.send_json(200, {"token": mint(body)})
        if self.path == "/publish":
            kid = body["key"]
            with LOCK:
                KEYS.setdefault(kid, Key(kid, body.get("endorsements", ["msteams"])))
                PUBLISHED[body.get("issuer", "botframework")].append(kid)
            return self.send_json(200, {"published": kid})
        self.send_json(404, {"error": "not found"})


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    # Stop when the test that started us goes away (stdin closes).
    threading.Thread(target=lambda: (sys.stdin.read(), server.shutdown()), daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
