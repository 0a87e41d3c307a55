# -*- coding: utf-8 -*-
"""Make the collection and the shared kubesim output importable for plain pytest runs.

Under ``ansible-test units`` the collection already sits in an
``ansible_collections/kubeforge/kubeadm`` tree; in a plain checkout (``.venv/bin/pytest
tests/unit``) a temporary tree with a symlink to the checkout is put on ``sys.path``.
"""

import datetime
import hashlib
import os
import shutil
import sys
import tempfile

import pytest

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KUBESIM = os.path.join(COLLECTION_ROOT, "tests", "kubesim")


def _collection_importable():
    try:
        import ansible_collections.kubeforge.kubeadm.plugins.module_utils.kubeadm  # noqa: F401 pylint: disable=unused-import
    except ImportError:
        return False
    return True


def _link_collection():
    tree = tempfile.mkdtemp(prefix="kubeforge-unit-")
    namespace = os.path.join(tree, "ansible_collections", "kubeforge")
    os.makedirs(namespace)
    os.symlink(COLLECTION_ROOT, os.path.join(namespace, "kubeadm"))
    sys.path.insert(0, tree)
    return tree


if KUBESIM not in sys.path:
    sys.path.insert(0, KUBESIM)

_TREE = None
if not _collection_importable():
    _TREE = _link_collection()
    if not _collection_importable():
        raise ImportError("cannot import the kubeforge.kubeadm collection from %s" % COLLECTION_ROOT)


def pytest_unconfigure(config):  # pylint: disable=unused-argument
    if _TREE:
        shutil.rmtree(_TREE, ignore_errors=True)


@pytest.fixture(scope="session")
def rsa_ca():
    """A fresh RSA CA certificate (PEM) and its pin computed with cryptography, independently of the code under test."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return cert.public_bytes(serialization.Encoding.PEM).decode(), "sha256:" + hashlib.sha256(spki).hexdigest()
