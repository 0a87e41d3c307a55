"""Client-certificate authentication the way kube-apiserver does it: the TLS handshake requests a
client certificate but accepts any (Go's tls.RequestClientCert); the x509 authenticator then
verifies it against --client-ca-file and answers 401 when it does not chain.

Python's ssl module cannot request a certificate without verifying it in the handshake, so the
OpenSSL verify callback of the context is replaced through ctypes with one that accepts every
certificate; verification happens here, with `cryptography`.  If that is not possible (unknown
OpenSSL build), the caller falls back to verifying in the handshake (then an unknown CA fails the
handshake instead of giving 401)."""

import ctypes
import ctypes.util
import datetime
import ssl
import threading

SSL_VERIFY_PEER = 0x01

_VERIFY_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)


@_VERIFY_CB
def _accept_all(preverify_ok, x509_store_ctx):
    return 1


def _libssl():
    # first the very OpenSSL the ssl module uses: symbols looked up through the _ssl extension
    # resolve in its own dependencies
    try:
        import _ssl
        candidates = [_ssl.__file__]
    except (ImportError, AttributeError):
        candidates = []
    for name in candidates + ["libssl.so.3", ctypes.util.find_library("ssl"), "libssl.so.1.1"]:
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            if not hasattr(lib, "SSL_CTX_set_verify"):
                continue
            return lib
        except (OSError, AttributeError):
            continue
    return None


def request_any_client_cert(ctx):
    """Make ``ctx`` (an SSLContext with verify_mode already set) request a client certificate
    and accept whatever is sent.  Returns True on success."""
    lib = _libssl()
    if lib is None:
        return False
    # struct PySSLContext { PyObject_HEAD; SSL_CTX *ctx; ... } in CPython 3.x
    head = ctypes.sizeof(ctypes.c_ssize_t) + ctypes.sizeof(ctypes.c_void_p)
    ssl_ctx = ctypes.c_void_p.from_address(id(ctx) + head).value
    if not ssl_ctx:
        return False
    lib.SSL_CTX_get_verify_mode.restype = ctypes.c_int
    lib.SSL_CTX_get_verify_mode.argtypes = [ctypes.c_void_p]
    # sanity check that the pointer really is this context's SSL_CTX: the mode must match
    if lib.SSL_CTX_get_verify_mode(ssl_ctx) != SSL_VERIFY_PEER:
        return False
    lib.SSL_CTX_set_verify.argtypes = [ctypes.c_void_p, ctypes.c_int, _VERIFY_CB]
    lib.SSL_CTX_set_verify.restype = None
    lib.SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_PEER, _accept_all)
    return True


class Verifier:
    """Verifies a DER client certificate against the CA bundle of --client-ca-file."""

    def __init__(self, ca_file):
        from cryptography import x509
        with open(ca_file, "rb") as f:
            data = f.read()
        self.cas = []
        for block in data.split(b"-----END CERTIFICATE-----"):
            if b"-----BEGIN CERTIFICATE-----" in block:
                self.cas.append(x509.load_pem_x509_certificate(block + b"-----END CERTIFICATE-----\n"))
        self.cache = {}
        self.lock = threading.Lock()

    def verify(self, der):
        """Return (cn, [orgs]) for a valid client certificate, or None."""
        with self.lock:
            hit = self.cache.get(der)
        if hit is not None:
            ok, result, not_after = hit
            if ok and _now() > not_after:
                return None
            return result if ok else None
        result, not_after = self._verify(der)
        with self.lock:
            if len(self.cache) > 1000:
                self.cache.clear()
            self.cache[der] = (result is not None, result, not_after)
        return result

    def _verify(self, der):
        from cryptography import x509
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, ed25519
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            return None, None
        nb, na = _validity(cert)
        now = _now()
        if now < nb or now > na:
            return None, na
        try:
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            if ExtendedKeyUsageOID.CLIENT_AUTH not in eku and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in eku:
                return None, na
        except x509.ExtensionNotFound:
            pass
        for ca in self.cas:
            if ca.subject != cert.issuer:
                continue
            pub = ca.public_key()
            try:
                if isinstance(pub, ec.EllipticCurvePublicKey):
                    pub.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
                elif isinstance(pub, rsa.RSAPublicKey):
                    pub.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                               cert.signature_hash_algorithm)
                elif isinstance(pub, ed25519.Ed25519PublicKey):
                    pub.verify(cert.signature, cert.tbs_certificate_bytes)
                else:
                    continue
            except InvalidSignature:
                continue
            cas_nb, cas_na = _validity(ca)
            if now < cas_nb or now > cas_na:
                continue
            cns = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
            orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
            if not cns:
                return None, na
            return (cns[0], orgs), na
        return None, na


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _validity(cert):
    if hasattr(cert, "not_valid_before_utc"):
        return cert.not_valid_before_utc, cert.not_valid_after_utc
    return (cert.not_valid_before.replace(tzinfo=datetime.timezone.utc),
            cert.not_valid_after.replace(tzinfo=datetime.timezone.utc))


def peer_der(sock):
    try:
        return sock.getpeercert(binary_form=True)
    except (ValueError, AttributeError, ssl.SSLError):
        return None
