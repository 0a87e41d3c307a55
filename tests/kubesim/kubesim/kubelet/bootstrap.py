"""Kubelet TLS bootstrap (k8s.io/kubernetes/pkg/kubelet/certificate/bootstrap), modelled.

With --kubeconfig missing (or holding an expired client certificate) and
--bootstrap-kubeconfig present: make an ECDSA P-256 key, post a CSR for
CN=system:node:<node>, O=system:nodes with signer kubernetes.io/kube-apiserver-client-kubelet
as the bootstrap identity, wait for status.certificate, then write
<cert-dir>/kubelet-client-<timestamp>.pem (certificate + key), point
kubelet-client-current.pem at it and write --kubeconfig referring to that file.
"""

import base64
import datetime
import hashlib
import os
import time

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ..apiclient import ApiError, Client
from ..pki import not_valid_after

CSR_PATH = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"


class BootstrapError(Exception):
    pass


def _load_yaml(path):
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def kubeconfig_client_cert_valid(path, now=None):
    """True when the kubeconfig exists and its client certificate is not expired."""
    if not os.path.exists(path):
        return False
    try:
        cfg = _load_yaml(path)
        ctx_name = cfg.get("current-context")
        ctx = next(c["context"] for c in cfg.get("contexts") or [] if c.get("name") == ctx_name)
        user = next(u.get("user") or {} for u in cfg.get("users") or [] if u.get("name") == ctx.get("user"))
    except (OSError, StopIteration, KeyError, TypeError, yaml.YAMLError):
        return False
    pem = None
    if user.get("client-certificate-data"):
        pem = base64.b64decode(user["client-certificate-data"])
    elif user.get("client-certificate"):
        cpath = user["client-certificate"]
        if not os.path.isabs(cpath):
            cpath = os.path.join(os.path.dirname(path), cpath)
        try:
            with open(cpath, "rb") as fh:
                pem = fh.read()
        except OSError:
            return False
    elif user.get("token"):
        return True
    if not pem:
        return False
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        return False
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return not_valid_after(cert) > now


def cluster_of(path):
    """(server, ca_data_b64) of the kubeconfig's current cluster."""
    cfg = _load_yaml(path)
    ctx_name = cfg.get("current-context")
    ctx = next(c["context"] for c in cfg.get("contexts") or [] if c.get("name") == ctx_name)
    cluster = next(c["cluster"] for c in cfg.get("clusters") or [] if c.get("name") == ctx["cluster"])
    ca = cluster.get("certificate-authority-data")
    if not ca and cluster.get("certificate-authority"):
        with open(cluster["certificate-authority"], "rb") as fh:
            ca = base64.b64encode(fh.read()).decode()
    return cluster["server"], ca


def write_kubelet_kubeconfig(path, server, ca_data_b64, cert_file):
    """The kubeconfig the real kubelet writes after bootstrap."""
    cfg = {
        "apiVersion": "v1",
        "clusters": [{"cluster": {"certificate-authority-data": ca_data_b64, "server": server},
                      "name": "default-cluster"}],
        "contexts": [{"context": {"cluster": "default-cluster", "namespace": "default",
                                  "user": "default-auth"}, "name": "default-context"}],
        "current-context": "default-context",
        "kind": "Config",
        "preferences": {},
        "users": [{"name": "default-auth",
                   "user": {"client-certificate": cert_file, "client-key": cert_file}}],
    }
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as fh:
        yaml.safe_dump(cfg, fh, default_flow_style=False)
    os.replace(tmp, path)


def make_csr(node_name, key):
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
                         x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{node_name}")])
    return x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())


def bootstrap(bootstrap_kubeconfig, kubeconfig, cert_dir, node_name, log, timeout=900.0, poll=1.0):
    """Run the bootstrap; returns the path of kubelet-client-current.pem."""
    if not os.path.exists(bootstrap_kubeconfig):
        raise BootstrapError(
            f"unable to load bootstrap kubeconfig: stat {bootstrap_kubeconfig}: no such file or directory")
    server, ca = cluster_of(bootstrap_kubeconfig)
    client = Client.from_kubeconfig(bootstrap_kubeconfig, user_agent="kubelet/kubesim")
    current = request_client_certificate(client, cert_dir, node_name, log, timeout, poll, digested_name=True)
    write_kubelet_kubeconfig(kubeconfig, server, ca, current)
    log(f'"Client certificate issued, kubeconfig written" path="{kubeconfig}"')
    return current


def store_pair(cert_dir, cert_pem, key_pem):
    """The certificate store: kubelet-client-<timestamp>.pem (cert + key), current symlink to it."""
    os.makedirs(cert_dir, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H-%M-%S")
    target = os.path.join(cert_dir, f"kubelet-client-{stamp}.pem")
    with open(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
        fh.write(cert_pem if cert_pem.endswith(b"\n") else cert_pem + b"\n")
        fh.write(key_pem)
    current = os.path.join(cert_dir, "kubelet-client-current.pem")
    tmp_link = current + ".tmp"
    if os.path.lexists(tmp_link):
        os.unlink(tmp_link)
    os.symlink(target, tmp_link)
    os.replace(tmp_link, current)
    return current


def seed_store_from_kubeconfig(kubeconfig, cert_dir):
    """client-go's certificate manager with an empty store and a "bootstrap" certificate (the
    embedded credentials kubeadm init puts in kubelet.conf): the pair is written to the store at
    once (kubelet-client-current.pem, which kubeadm's kubelet-finalize phase points kubelet.conf
    at) and a rotation is forced. Returns True when it seeded the store."""
    if not needs_rotation_store(kubeconfig, cert_dir):
        return False
    cfg = _load_yaml(kubeconfig)
    ctx_name = cfg.get("current-context")
    ctx = next((c.get("context") or {} for c in cfg.get("contexts") or [] if c.get("name") == ctx_name), {})
    user = next((u.get("user") or {} for u in cfg.get("users") or [] if u.get("name") == ctx.get("user")), {})
    if not (user.get("client-certificate-data") and user.get("client-key-data")):
        return False
    store_pair(cert_dir, base64.b64decode(user["client-certificate-data"]),
               base64.b64decode(user["client-key-data"]))
    return True


def needs_rotation_store(kubeconfig, cert_dir):
    """rotateCertificates with a kubeconfig holding embedded credentials (kubeadm init writes one)
    and no kubelet-client-current.pem yet: the certificate manager requests its own certificate
    (approved through the selfnodeclient permission) and stores it, which kubeadm's
    kubelet-finalize phase then points kubelet.conf at."""
    if os.path.exists(os.path.join(cert_dir, "kubelet-client-current.pem")):
        return False
    try:
        cfg = _load_yaml(kubeconfig)
    except (OSError, yaml.YAMLError):
        return False
    users = cfg.get("users") or []
    return any((u.get("user") or {}).get("client-certificate-data") for u in users)


def digested_csr_name(public_key, common_name, organizations, usages):
    """client-go's digestedName for bootstrap CSRs: node-csr-<base64url(SHA-512/256)> over the
    base64url of the public key, CN, organizations and usages, each followed by '|'."""
    try:
        h = hashlib.new("sha512_256")
    except ValueError:
        h = hashlib.sha256()

    def write(data):
        h.update(base64.urlsafe_b64encode(data).rstrip(b"="))
        h.update(b"|")
    write(public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
    write(common_name.encode())
    for org in organizations:
        write(org.encode())
    for usage in usages:
        write(usage.encode())
    return "node-csr-" + base64.urlsafe_b64encode(h.digest()).decode().rstrip("=")


def request_client_certificate(client, cert_dir, node_name, log, timeout=900.0, poll=1.0,
                               digested_name=True):
    """Post a kubelet client CSR with `client`'s identity, wait, store; returns current.pem's path."""
    os.makedirs(cert_dir, exist_ok=True)
    key_tmp = os.path.join(cert_dir, "kubelet-client.key.tmp")
    key = None
    if os.path.exists(key_tmp):  # reuse a key from an interrupted bootstrap, as the kubelet does
        try:
            with open(key_tmp, "rb") as fh:
                key = serialization.load_pem_private_key(fh.read(), None)
        except ValueError:
            key = None
    if key is None:
        key = ec.generate_private_key(ec.SECP256R1())
        with open(os.open(key_tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
            fh.write(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))
    csr = make_csr(node_name, key)
    csr_pem = csr.public_bytes(serialization.Encoding.PEM)
    usages = ["digital signature", "client auth"]
    if digested_name:
        name = digested_csr_name(csr.public_key(), f"system:node:{node_name}", ["system:nodes"], usages)
        meta = {"name": name}
    else:
        meta = {"generateName": "csr-"}  # client-go's certificate manager (rotation)
    body = {
        "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
        "metadata": meta,
        "spec": {"request": base64.b64encode(csr_pem).decode(), "signerName": SIGNER, "usages": usages},
    }
    try:
        created = client.create(CSR_PATH, body)
        name = created["metadata"]["name"]
    except ApiError as exc:
        if exc.status != 409:
            raise BootstrapError(f"cannot create certificate signing request: {exc.message}") from exc
    log(f'"Waiting for client certificate" csr="{name}"')
    deadline = time.monotonic() + timeout
    cert_pem = None
    while time.monotonic() < deadline:
        try:
            obj = client.get(f"{CSR_PATH}/{name}")
        except ApiError as exc:
            if exc.status in (401, 403):
                raise BootstrapError(f"cannot watch certificate signing request: {exc.message}") from exc
            obj = None
        status = (obj or {}).get("status") or {}
        for cond in status.get("conditions") or []:
            if cond.get("type") in ("Denied", "Failed") and cond.get("status", "True") == "True":
                raise BootstrapError(f"certificate request was not signed: {cond.get('type')}: "
                                     f"{cond.get('message') or cond.get('reason') or ''}")
        if status.get("certificate"):
            cert_pem = base64.b64decode(status["certificate"])
            break
        time.sleep(poll)
    if cert_pem is None:
        raise BootstrapError(f"timed out waiting for the certificate signing request {name} to be signed")
    current = store_pair(cert_dir, cert_pem, key.private_bytes(serialization.Encoding.PEM,
                                                               serialization.PrivateFormat.TraditionalOpenSSL,
                                                               serialization.NoEncryption()))
    os.unlink(key_tmp)
    log(f'"Client certificate stored" path="{current}"')
    return current
