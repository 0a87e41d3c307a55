"""Service account tokens: the TokenRequest API (``serviceaccounts/<name>/token``) issues RS256 JWTs
signed with --service-account-signing-key-file; the authenticator verifies bearer JWTs with the
keys of --service-account-key-file, the issuer(s) of --service-account-issuer, expiry, the API
audience and that the ServiceAccount (same uid) still exists."""

import base64
import hashlib
import json
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(public_key):
    """kube-apiserver's kid: base64url(SHA-256(DER SubjectPublicKeyInfo))."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return _b64url(hashlib.sha256(der).digest())


def _load_public_keys(path):
    with open(path, "rb") as f:
        data = f.read()
    keys = []
    for block in data.split(b"-----END "):
        if b"-----BEGIN " not in block:
            continue
        kind = block.split(b"-----BEGIN ", 1)[1].split(b"-----", 1)[0]
        pem = block + b"-----END " + kind + b"-----\n"
        pem = pem[pem.index(b"-----BEGIN "):]
        if b"PRIVATE KEY" in kind:
            keys.append(serialization.load_pem_private_key(pem, None).public_key())
        elif b"CERTIFICATE" in kind:
            from cryptography import x509
            keys.append(x509.load_pem_x509_certificate(pem).public_key())
        else:
            keys.append(serialization.load_pem_public_key(pem))
    return keys


class TokenAuthority:
    def __init__(self, signing_key_file=None, key_files=(), issuers=(), audiences=()):
        self.signing_key = None
        if signing_key_file:
            with open(signing_key_file, "rb") as f:
                self.signing_key = serialization.load_pem_private_key(f.read(), None)
        self.public_keys = []
        for path in key_files:
            try:
                self.public_keys.extend(_load_public_keys(path))
            except (OSError, ValueError):
                pass
        if self.signing_key is not None:
            self.public_keys.append(self.signing_key.public_key())
        self.issuers = [i for i in issuers if i]
        self.audiences = [a for a in audiences if a] or self.issuers[:1]

    # --- issuing --------------------------------------------------------------------------------
    def issue(self, namespace, name, uid, audiences=None, expiration_seconds=3600, bound=None):
        if self.signing_key is None or not self.issuers:
            raise ValueError("service account token signing is not configured")
        now = int(time.time())
        exp = now + int(expiration_seconds)
        alg = "RS256" if isinstance(self.signing_key, rsa.RSAPrivateKey) else "ES256"
        header = {"alg": alg, "kid": key_id(self.signing_key.public_key())}
        k8s = {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}}
        if bound:
            k8s.update(bound)
        claims = {"aud": list(audiences or self.audiences), "exp": exp, "iat": now, "iss": self.issuers[0],
                  "jti": _b64url(hashlib.sha256(("%s/%s/%d" % (namespace, name, time.time_ns())).encode())
                                 .digest()[:16]),
                  "kubernetes.io": k8s, "nbf": now, "sub": "system:serviceaccount:%s:%s" % (namespace, name)}
        signing_input = _b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + \
            _b64url(json.dumps(claims, separators=(",", ":")).encode())
        if alg == "RS256":
            sig = self.signing_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        else:
            from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
            r, s = decode_dss_signature(self.signing_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
            sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return signing_input + "." + _b64url(sig), exp

    # --- verifying ------------------------------------------------------------------------------
    def verify(self, token):
        """Return the claims of a valid token, or None."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        try:
            header = json.loads(_unb64url(parts[0]))
            claims = json.loads(_unb64url(parts[1]))
            sig = _unb64url(parts[2])
        except ValueError:
            return None
        signing_input = (parts[0] + "." + parts[1]).encode()
        ok = False
        for key in self.public_keys:
            try:
                if header.get("alg") == "RS256" and isinstance(key, rsa.RSAPublicKey):
                    key.verify(sig, signing_input, padding.PKCS1v15(), hashes.SHA256())
                elif header.get("alg") == "ES256" and isinstance(key, ec.EllipticCurvePublicKey) and len(sig) == 64:
                    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
                    key.verify(encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")),
                               signing_input, ec.ECDSA(hashes.SHA256()))
                else:
                    continue
                ok = True
                break
            except InvalidSignature:
                continue
        if not ok:
            return None
        now = time.time()
        if claims.get("iss") not in self.issuers:
            return None
        if "exp" in claims and now > claims["exp"]:
            return None
        if "nbf" in claims and now + 60 < claims["nbf"]:
            return None
        aud = claims.get("aud")
        aud = [aud] if isinstance(aud, str) else (aud or [])
        if self.audiences and not set(aud) & set(self.audiences):
            return None
        sub = claims.get("sub", "")
        if not sub.startswith("system:serviceaccount:") or sub.count(":") != 3:
            return None
        return claims
