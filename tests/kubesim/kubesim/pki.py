"""Certificates, keys and kubeconfig files, made the way kubeadm makes them (python3-cryptography).

Mirrors cmd/kubeadm/app/util/pkiutil and phases/certs, phases/kubeconfig:
  - CA: self-signed, CN "kubernetes" (etcd CA: "etcd-ca", front-proxy CA: "front-proxy-ca"),
    KeyUsage digitalSignature|keyEncipherment|certSign, BasicConstraints CA, validity
    caCertificateValidityPeriod (default 10 years);
  - leaf certificates: validity certificateValidityPeriod (default 1 year), ExtKeyUsage server
    and/or client auth, SANs as kubeadm computes them (see kubeadm/phases.py);
  - keys: RSA-2048 by default (ClusterConfiguration.encryptionAlgorithm: RSA-2048/3072/4096,
    ECDSA-P256/P384), written as PKCS#1 "RSA PRIVATE KEY" / SEC1 "EC PRIVATE KEY" like kubeadm;
  - SPKI pin: "sha256:" + hex(SHA-256(SubjectPublicKeyInfo DER)) (util/pubkeypin).
"""

import base64
import datetime
import hashlib
import ipaddress
import os

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_VALIDITY = datetime.timedelta(days=3650)
CERT_VALIDITY = datetime.timedelta(days=365)


def new_key(algorithm="RSA-2048"):
    if algorithm in ("", None, "RSA-2048"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "RSA-3072":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    if algorithm == "RSA-4096":
        return rsa.generate_private_key(public_exponent=65537, key_size=4096)
    if algorithm == "ECDSA-P256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "ECDSA-P384":
        return ec.generate_private_key(ec.SECP384R1())
    raise ValueError(f"unsupported encryption algorithm {algorithm!r}")


def _name(cn, orgs=()):
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def new_ca(cn="kubernetes", key=None, validity=CA_VALIDITY, algorithm="RSA-2048"):
    key = key or new_key(algorithm)
    now = _now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder()
            .subject_name(_name(cn)).issuer_name(_name(cn))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + validity)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256()))
    return cert, key


def new_cert(ca_cert, ca_key, cn, orgs=(), dns=(), ips=(), server=False, client=False,
             key=None, validity=CERT_VALIDITY, algorithm="RSA-2048", public_key=None):
    """A leaf certificate signed by the CA. Returns (cert, key); key is None when public_key is given."""
    if public_key is None:
        key = key or new_key(algorithm)
        public_key = key.public_key()
    now = _now()
    not_after = min(now + validity, not_valid_after(ca_cert))
    b = (x509.CertificateBuilder()
         .subject_name(_name(cn, orgs)).issuer_name(ca_cert.subject)
         .public_key(public_key)
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(not_after)
         .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                      data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                      crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False))
    eku = []
    if server:
        eku.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if client:
        eku.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    sans = [x509.DNSName(d) for d in _dedup(dns)]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in _dedup(str(ipaddress.ip_address(i)) for i in ips)]
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return b.sign(ca_key, hashes.SHA256()), key


def not_valid_after(cert):
    """Aware datetime (python3-cryptography 38 on Debian 12 has no *_utc properties)."""
    v = getattr(cert, "not_valid_after_utc", None)
    if v is None:
        v = cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)
    return v


def _dedup(items):
    seen, out = set(), []
    for i in items:
        if i and i not in seen:
            seen.add(i)
            out.append(i)
    return out


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key):
    if isinstance(key, rsa.RSAPrivateKey):
        fmt = serialization.PrivateFormat.TraditionalOpenSSL  # "RSA PRIVATE KEY" (PKCS#1)
    else:
        fmt = serialization.PrivateFormat.TraditionalOpenSSL  # "EC PRIVATE KEY" (SEC1)
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


def public_key_pem(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def load_cert(data):
    if isinstance(data, str):
        data = data.encode()
    return x509.load_pem_x509_certificate(data)


def load_certs(data):
    """Every certificate of a PEM bundle (load_pem_x509_certificates needs cryptography >= 39)."""
    if isinstance(data, str):
        data = data.encode()
    end = b"-----END CERTIFICATE-----"
    out = []
    for block in data.split(end)[:-1]:
        start = block.find(b"-----BEGIN CERTIFICATE-----")
        if start >= 0:
            out.append(x509.load_pem_x509_certificate(block[start:] + end + b"\n"))
    return out


def load_key(data):
    if isinstance(data, str):
        data = data.encode()
    return serialization.load_pem_private_key(data, password=None)


def read_pair(pki_dir, base):
    with open(os.path.join(pki_dir, base + ".crt"), "rb") as f:
        cert = load_cert(f.read())
    with open(os.path.join(pki_dir, base + ".key"), "rb") as f:
        key = load_key(f.read())
    return cert, key


def write_file(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def write_pair(pki_dir, base, cert, key):
    write_file(os.path.join(pki_dir, base + ".crt"), cert_pem(cert), 0o644)
    if key is not None:
        write_file(os.path.join(pki_dir, base + ".key"), key_pem(key), 0o600)


def spki_pin(cert):
    """kubeadm's CA pin: sha256:<hex of SHA-256 over the DER SubjectPublicKeyInfo>."""
    if isinstance(cert, (bytes, str)):
        cert = load_cert(cert)
    der = cert.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def kubeconfig(server, ca_pem, cluster_name, user, cert_pem_data=None, key_pem_data=None, token=None):
    """A kubeconfig dict like kubeadm's (context "<user>@<cluster>")."""
    b64 = lambda d: base64.b64encode(d if isinstance(d, bytes) else d.encode()).decode()  # noqa: E731
    auth = {}
    if cert_pem_data is not None:
        auth["client-certificate-data"] = b64(cert_pem_data)
        auth["client-key-data"] = b64(key_pem_data)
    if token is not None:
        auth["token"] = token
    ctx = f"{user}@{cluster_name}"
    return {
        "apiVersion": "v1",
        "clusters": [{"cluster": {"certificate-authority-data": b64(ca_pem), "server": server},
                      "name": cluster_name}],
        "contexts": [{"context": {"cluster": cluster_name, "user": user}, "name": ctx}],
        "current-context": ctx,
        "kind": "Config",
        "preferences": {},
        "users": [{"name": user, "user": auth}],
    }


def write_kubeconfig(path, cfg, mode=0o600):
    write_file(path, yaml.safe_dump(cfg, default_flow_style=False, sort_keys=False), mode)


def read_kubeconfig(path):
    with open(path) as f:
        return yaml.safe_load(f)
