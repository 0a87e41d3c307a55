"""kubesim.apiclient against a local TLS server (loopback): kubeconfig forms, client certificates,
bearer tokens, Status errors, patch content types, chunked watch streams, kept-alive connections."""

import base64
import datetime
import http.server
import ipaddress
import json
import os
import ssl
import sys
import threading

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from kubesim.apiclient import ApiError, Client, resource_path  # noqa: E402


def _cert(cn, issuer=None, ca=False, server=False, orgs=()):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
                     + [x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    issuer_cert, issuer_key = issuer or (None, key)
    b = (x509.CertificateBuilder().subject_name(name)
         .issuer_name(issuer_cert.subject if issuer_cert else name).public_key(key.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
         .not_valid_after(now + datetime.timedelta(hours=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                            critical=False)
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    elif not ca:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return b.sign(issuer_key, hashes.SHA256()), key


def _pem(cert=None, key=None):
    if cert is not None:
        return cert.public_bytes(serialization.Encoding.PEM)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _who(self):
        cert = self.connection.getpeercert()
        if cert:
            return dict(x[0] for x in cert["subject"])["commonName"]
        auth = self.headers.get("Authorization", "")
        return auth[len("Bearer "):] if auth.startswith("Bearer ") else None

    def _send(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802
        who = self._who()
        if who is None:
            return self._send(401, {"kind": "Status", "status": "Failure", "reason": "Unauthorized",
                                    "message": "Unauthorized", "code": 401})
        if self.path.startswith("/api/v1/nodes?watch=true"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(3):
                line = json.dumps({"type": "ADDED", "object": {"metadata": {"name": f"n{i}"}}}).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.write(b"0\r\n\r\n")
            return None
        if self.path == "/api/v1/namespaces/default/pods/missing":
            return self._send(404, {"kind": "Status", "status": "Failure", "reason": "NotFound",
                                    "message": 'pods "missing" not found', "code": 404})
        answer = self._send(200, {"who": who, "path": self.path, "port": self.client_address[1]})
        if self.path == "/drop":
            self.close_connection = True  # closed without a "Connection: close", as an idle timeout does
        return answer

    def do_PATCH(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self._send(200, {"contentType": self.headers["Content-Type"], "body": json.loads(body)})

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    d = tmp_path_factory.mktemp("apiclient")
    ca = _cert("kubernetes", ca=True)
    srv_cert, srv_key = _cert("kube-apiserver", issuer=ca, server=True)
    (d / "ca.crt").write_bytes(_pem(ca[0]))
    (d / "srv.crt").write_bytes(_pem(srv_cert))
    (d / "srv.key").write_bytes(_pem(key=srv_key))
    client_cert, client_key = _cert("system:node:n1", issuer=ca, orgs=["system:nodes"])
    (d / "client.crt").write_bytes(_pem(client_cert))
    (d / "client.key").write_bytes(_pem(key=client_key))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d / "srv.crt", d / "srv.key")
    ctx.load_verify_locations(d / "ca.crt")
    ctx.verify_mode = ssl.CERT_OPTIONAL
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield d, f"https://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def kubeconfig(path, server, user, ca=None, ca_data=None):
    cluster = {"server": server}
    if ca:
        cluster["certificate-authority"] = ca
    if ca_data:
        cluster["certificate-authority-data"] = ca_data
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "ctx",
        "clusters": [{"name": "k", "cluster": cluster}], "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "ctx", "context": {"cluster": "k", "user": "u"}}]}))
    return str(path)


def test_client_certificate_files_and_embedded_data(server):
    d, url = server
    c = Client.from_kubeconfig(kubeconfig(d / "files.conf", url, {"client-certificate": "client.crt",
                                                                   "client-key": "client.key"}, ca="ca.crt"))
    assert c.get("/api/v1/nodes/n1")["who"] == "system:node:n1"
    b64 = lambda p: base64.b64encode((d / p).read_bytes()).decode()  # noqa: E731
    c = Client.from_kubeconfig(kubeconfig(d / "data.conf", url, {"client-certificate-data": b64("client.crt"),
                                                                  "client-key-data": b64("client.key")},
                                          ca_data=b64("ca.crt")))
    assert c.get("/api/v1/nodes/n1")["who"] == "system:node:n1"


def test_token_status_errors_and_query(server):
    d, url = server
    c = Client.from_kubeconfig(kubeconfig(d / "tok.conf", url, {"token": "abcdef.0123456789abcdef"}, ca=str(d / "ca.crt")))
    got = c.list("/api/v1/pods", label_selector="app=x", field_selector="spec.nodeName=n1")
    assert got["who"] == "abcdef.0123456789abcdef"
    assert got["path"] == "/api/v1/pods?labelSelector=app%3Dx&fieldSelector=spec.nodeName%3Dn1"
    with pytest.raises(ApiError) as err:
        c.get("/api/v1/namespaces/default/pods/missing")
    assert (err.value.status, err.value.reason, err.value.message) == (404, "NotFound", 'pods "missing" not found')
    assert c.get_or_none("/api/v1/namespaces/default/pods/missing") is None
    anon = Client(url, ca_file=str(d / "ca.crt"))
    with pytest.raises(ApiError) as err:
        anon.get("/api/v1/nodes")
    assert err.value.status == 401


def test_patch_content_types(server):
    d, url = server
    c = Client(url, ca_file=str(d / "ca.crt"), token="t")
    assert c.patch("/api/v1/nodes/n1", {"spec": {"podCIDR": "10.244.1.0/24"}})["contentType"] == \
        "application/merge-patch+json"
    got = c.patch("/api/v1/nodes/n1", [{"op": "add", "path": "/x", "value": 1}],
                  content_type="application/json-patch+json")
    assert got["contentType"] == "application/json-patch+json" and got["body"][0]["op"] == "add"


def test_watch_chunked_stream(server):
    d, url = server
    c = Client(url, ca_file=str(d / "ca.crt"), token="t")
    events = list(c.watch("/api/v1/nodes"))
    assert [e["object"]["metadata"]["name"] for e in events] == ["n0", "n1", "n2"]


def test_tls_verification_and_transport_errors(server, tmp_path):
    d, url = server
    other_ca, _ = _cert("other", ca=True)
    (tmp_path / "other.crt").write_bytes(_pem(other_ca))
    with pytest.raises(ApiError) as err:
        Client(url, ca_file=str(tmp_path / "other.crt"), token="t").get("/api/v1/nodes")
    assert err.value.status == 0 and "CERTIFICATE_VERIFY_FAILED" in err.value.message
    assert Client(url, insecure=True, token="t").get("/x")["who"] == "t"
    with pytest.raises(ApiError) as err:
        Client("https://127.0.0.1:1", insecure=True).get("/x")
    assert err.value.status == 0


def test_one_kept_alive_connection_per_thread(server):
    d, url = server
    c = Client(url, ca_file=str(d / "ca.crt"), token="t")
    ports = {c.get(f"/api/v1/nodes/n{i}")["port"] for i in range(3)}
    assert len(ports) == 1, ports
    other = []
    worker = threading.Thread(target=lambda: other.append(c.get("/api/v1/nodes/n1")["port"]))
    worker.start()
    worker.join()
    assert other and other[0] not in ports
    # The server closes the connection after this answer: the next request notices and goes on a fresh one.
    assert c.get("/drop")["port"] in ports
    after = c.get("/api/v1/nodes/n1")["port"]
    assert after not in ports | set(other)
    assert c.get("/api/v1/nodes/n2")["port"] == after


def test_resource_path():
    assert resource_path("v1", "pods", "kube-system", "p", "status") == "/api/v1/namespaces/kube-system/pods/p/status"
    assert resource_path("apps/v1", "daemonsets") == "/apis/apps/v1/daemonsets"
    assert resource_path("coordination.k8s.io/v1", "leases", "kube-node-lease", "n1") == \
        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1"
