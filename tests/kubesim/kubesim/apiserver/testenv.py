"""Helpers for the API server stand-in's own tests: throwaway PKI, a real etcd with TLS on
loopback, the apiserver process and kubeconfigs.  Not used at run time on hosts."""

import base64
import datetime
import ipaddress
import os
import shutil
import socket
import subprocess
import sys
import time

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KUBESIM_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def spawn(argv, log_path, port, what, env=None):
    """Start ``argv`` with its output appended to ``log_path`` and wait (20 s at most) until it
    listens on 127.0.0.1:``port``; returns the Popen. Raises RuntimeError when it exits first
    or never listens (then it is killed)."""
    log = open(log_path, "ab")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    log.close()  # the child keeps its own descriptor
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("%s exited; see %s" % (what, log_path))
            time.sleep(0.1)
    terminate(proc)
    raise RuntimeError("%s did not listen" % what)


def terminate(proc, timeout=10):
    """SIGTERM, then SIGKILL after ``timeout`` seconds."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def apiserver_argv(args):
    return [os.environ.get("KUBESIM_APISERVER_PYTHON", sys.executable), "-m", "kubesim.apiserver"] + list(args)


def _name(cn, orgs=()):
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def write_key(path, key):
    with open(path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption()))


def write_cert(path, cert):
    with open(path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))


def make_ca(directory, name, cn="kubernetes"):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, True, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    write_key(os.path.join(directory, name + ".key"), key)
    write_cert(os.path.join(directory, name + ".crt"), cert)
    return cert, key


def make_cert(directory, name, ca, cn, orgs=(), server=False, client=True, ips=(), dns=()):
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    usages = []
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    b = (x509.CertificateBuilder().subject_name(_name(cn, orgs)).issuer_name(ca_cert.subject)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(now + datetime.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
         .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False))
    sans = [x509.IPAddress(ipaddress.ip_address(i)) for i in ips] + [x509.DNSName(d) for d in dns]
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = b.sign(ca_key, hashes.SHA256())
    write_key(os.path.join(directory, name + ".key"), key)
    write_cert(os.path.join(directory, name + ".crt"), cert)
    return cert, key


class Etcd:
    def __init__(self, directory):
        self.dir = directory
        os.makedirs(os.path.join(directory, "pki"), exist_ok=True)
        pki = os.path.join(directory, "pki")
        self.ca = make_ca(pki, "etcd-ca", "etcd-ca")
        make_cert(pki, "etcd-server", self.ca, "kf-api-etcd", server=True, client=True,
                  ips=["127.0.0.1"], dns=["localhost"])
        make_cert(pki, "apiserver-etcd-client", self.ca, "kube-apiserver-etcd-client")
        self.cafile = os.path.join(pki, "etcd-ca.crt")
        self.certfile = os.path.join(pki, "apiserver-etcd-client.crt")
        self.keyfile = os.path.join(pki, "apiserver-etcd-client.key")
        self.port = free_port()
        self.peer_port = free_port()
        self.url = "https://127.0.0.1:%d" % self.port
        self.proc = None

    def start(self):
        pki = os.path.join(self.dir, "pki")
        args = ["etcd", "--name", "kf-api-etcd", "--data-dir", os.path.join(self.dir, "data"),
                "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                "--listen-peer-urls", "http://127.0.0.1:%d" % self.peer_port,
                "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % self.peer_port,
                "--initial-cluster", "kf-api-etcd=http://127.0.0.1:%d" % self.peer_port,
                "--client-cert-auth", "--trusted-ca-file", self.cafile,
                "--cert-file", os.path.join(pki, "etcd-server.crt"),
                "--key-file", os.path.join(pki, "etcd-server.key"),
                "--snapshot-count", "10000", "--quota-backend-bytes", str(256 * 1024 * 1024)]
        self.proc = spawn(args, os.path.join(self.dir, "etcd.log"), self.port, "etcd")
        return self

    def stop(self):
        terminate(self.proc)
        self.proc = None


class Cluster:
    """A kubeadm-like /etc/kubernetes/pki tree plus an apiserver process."""

    def __init__(self, directory, etcd, version="v1.37.1"):
        self.dir = directory
        self.etcd = etcd
        self.version = version
        self.pki = os.path.join(directory, "pki")
        os.makedirs(self.pki, exist_ok=True)
        self.ca = make_ca(self.pki, "ca", "kubernetes")
        make_cert(self.pki, "apiserver", self.ca, "kube-apiserver", server=True, client=False,
                  ips=["127.0.0.1", "10.96.0.1"], dns=["localhost", "kubernetes", "kubernetes.default"])
        from cryptography.hazmat.primitives.asymmetric import rsa
        sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        write_key(os.path.join(self.pki, "sa.key"), sa)
        with open(os.path.join(self.pki, "sa.pub"), "wb") as f:
            f.write(sa.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo))
        self.port = free_port()
        self.proc = None

    def client_cert(self, name, cn, orgs=(), ca=None):
        make_cert(self.pki, name, ca or self.ca, cn, orgs)
        return os.path.join(self.pki, name + ".crt"), os.path.join(self.pki, name + ".key")

    def args(self):
        p = self.pki
        return [
            "--advertise-address=127.0.0.1", "--bind-address=127.0.0.1",
            "--allow-privileged=true", "--authorization-mode=Node,RBAC",
            "--client-ca-file=%s/ca.crt" % p, "--enable-admission-plugins=NodeRestriction",
            "--enable-bootstrap-token-auth=true",
            "--etcd-cafile=%s" % self.etcd.cafile, "--etcd-certfile=%s" % self.etcd.certfile,
            "--etcd-keyfile=%s" % self.etcd.keyfile, "--etcd-servers=%s" % self.etcd.url,
            "--kubelet-client-certificate=%s/apiserver-kubelet-client.crt" % p,
            "--kubelet-client-key=%s/apiserver-kubelet-client.key" % p,
            "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
            "--proxy-client-cert-file=%s/front-proxy-client.crt" % p,
            "--proxy-client-key-file=%s/front-proxy-client.key" % p,
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-client-ca-file=%s/front-proxy-ca.crt" % p,
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-username-headers=X-Remote-User",
            "--secure-port=%d" % self.port,
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--service-account-key-file=%s/sa.pub" % p,
            "--service-account-signing-key-file=%s/sa.key" % p,
            "--service-cluster-ip-range=10.96.0.0/12",
            "--tls-cert-file=%s/apiserver.crt" % p, "--tls-private-key-file=%s/apiserver.key" % p,
            "--kubesim-version=%s" % self.version,
        ]

    def start(self, extra=()):
        env = dict(os.environ, PYTHONPATH=KUBESIM_ROOT)
        self.proc = spawn(apiserver_argv(self.args() + list(extra)), os.path.join(self.dir, "apiserver.log"),
                          self.port, "apiserver", env)
        return self

    def stop(self):
        terminate(self.proc)
        self.proc = None

    def start_peer(self, advertise="127.0.0.2"):
        """A second API server on the same etcd and PKI (an HA peer). Returns (port, Popen)."""
        port = free_port()
        args = [a for a in self.args() if not a.startswith(("--secure-port=", "--advertise-address="))]
        args += ["--secure-port=%d" % port, "--advertise-address=%s" % advertise]
        env = dict(os.environ, PYTHONPATH=KUBESIM_ROOT)
        proc = spawn(apiserver_argv(args), os.path.join(self.dir, "apiserver-%d.log" % port), port,
                     "apiserver peer", env)
        return port, proc

    def kubeconfig(self, name, cn=None, orgs=(), token=None, ca=None):
        path = os.path.join(self.dir, name + ".conf")
        with open(os.path.join(self.pki, "ca.crt"), "rb") as f:
            ca_data = base64.b64encode(f.read()).decode()
        user = {}
        if token:
            user["token"] = token
        elif cn:
            crt, key = self.client_cert(name, cn, orgs, ca=ca)
            user["client-certificate"] = crt
            user["client-key"] = key
        cfg = {"apiVersion": "v1", "kind": "Config", "current-context": "ctx",
               "clusters": [{"name": "kf", "cluster": {"server": "https://127.0.0.1:%d" % self.port,
                                                       "certificate-authority-data": ca_data}}],
               "users": [{"name": "u", "user": user}],
               "contexts": [{"name": "ctx", "context": {"cluster": "kf", "user": "u"}}]}
        with open(path, "w") as f:
            yaml.safe_dump(cfg, f)
        return path


def cleanup(directory):
    shutil.rmtree(directory, ignore_errors=True)
