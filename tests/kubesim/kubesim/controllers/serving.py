"""Secure serving of /healthz, /livez, /readyz for kube-controller-manager (10257) and
kube-scheduler (10259), which kubeadm polls while waiting for the control plane.

As the real components: --tls-cert-file/--tls-private-key-file when given, else a
self-signed certificate generated at start-up; --secure-port=0 disables serving.
"""

import datetime
import http.server
import ipaddress
import os
import ssl
import tempfile
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        path = self.path.split("?")[0]
        if path in ("/healthz", "/livez", "/readyz") or path.startswith(("/healthz/", "/livez/", "/readyz/")):
            body = b"ok"
            self.send_response(200)
        else:
            body = b"404 page not found\n"
            self.send_response(404)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _self_signed(name, address):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{address}@{int(now.timestamp())}")])
    sans = [x509.DNSName("localhost")]
    try:
        sans.append(x509.IPAddress(ipaddress.ip_address(address)))
    except ValueError:
        pass
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def serve(name, bind_address, port, cert_file=None, key_file=None):
    """Start serving in a daemon thread; raises OSError like the component's listener."""
    if not port:
        return None
    address = bind_address or "0.0.0.0"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if cert_file and key_file:
        ctx.load_cert_chain(cert_file, key_file)
    else:
        cert, key = _self_signed(name, "127.0.0.1" if address in ("0.0.0.0", "::") else address)
        with tempfile.TemporaryDirectory(prefix="kubesim-serving-") as tmp:
            cpath, kpath = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
            with open(cpath, "wb") as fh:
                fh.write(cert)
            with open(os.open(kpath, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as fh:
                fh.write(key)
            ctx.load_cert_chain(cpath, kpath)
    srv = http.server.ThreadingHTTPServer((address, port), _Handler)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv
