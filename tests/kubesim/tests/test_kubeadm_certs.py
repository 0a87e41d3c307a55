"""kubeadm certs check-expiration / renew of the stand-in, on a PKI made in a temporary directory (no root).

The kubeconfig folder (/etc/kubernetes in kubeadm) is the test's directory through KUBESIM_KUBERNETES_DIR;
--kubeconfig points at a missing file, so kubeadm falls back to its default configuration as it does without
a cluster. Expected texts and exit codes are kubeadm's (cmd/kubeadm/app/cmd/certs.go, phases/certs/renewal).
"""

import base64
import datetime
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

HERE = os.path.dirname(os.path.abspath(__file__))
KUBESIM = os.path.dirname(HERE)
sys.path.insert(0, KUBESIM)

from kubesim import pki  # noqa: E402
from kubesim.kubeadm import phases as P  # noqa: E402

CERT_NAMES = ["admin.conf", "apiserver", "apiserver-etcd-client", "apiserver-kubelet-client",
              "controller-manager.conf", "etcd-healthcheck-client", "etcd-peer", "etcd-server",
              "front-proxy-client", "scheduler.conf", "super-admin.conf"]
KUBECONFIGS = {"admin.conf": ("kubernetes-admin", ["kubeadm:cluster-admins"]),
               "super-admin.conf": ("kubernetes-super-admin", ["system:masters"]),
               "controller-manager.conf": ("system:kube-controller-manager", []),
               "scheduler.conf": ("system:kube-scheduler", [])}
DONE = ("Done renewing certificates. You must restart the kube-apiserver, kube-controller-manager, kube-scheduler "
        "and etcd, so that they can use the new certificates.")
HINT = "To see the stack trace of this error execute with --v=5 or higher\n"


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A kubeadm PKI (certificates + the four renewable kubeconfigs), made once as kubeadm init does."""
    base = tmp_path_factory.mktemp("kubernetes")
    pki_dir = base / "pki"
    P.make_certs({"certificatesDir": str(pki_dir)}, "cp1", "10.0.0.5", lambda *_: None)
    for name, (cn, orgs) in KUBECONFIGS.items():
        cfg = P.client_kubeconfig(str(pki_dir), "https://10.0.0.5:6443", "kubernetes", cn, cn, orgs)
        pki.write_kubeconfig(str(base / name), cfg)
    return base


@pytest.fixture()
def kdir(template, tmp_path):
    """A copy of the template for one test (tests change it)."""
    shutil.copytree(template, tmp_path / "k")
    return tmp_path / "k"


def kubeadm(kdir, *args):
    env = dict(os.environ, KUBESIM_VERSION="1.37.1", PYTHONPATH=KUBESIM, KUBESIM_KUBERNETES_DIR=str(kdir))
    return subprocess.run([sys.executable, "-m", "kubesim.kubeadm", "certs", *args,
                           *(("--cert-dir", str(kdir / "pki"), "--kubeconfig", str(kdir / "missing.conf"))
                             if args[0] == "check-expiration" or args[0] == "renew" and len(args) > 1 else ())],
                          capture_output=True, text=True, env=env, timeout=60)


def kubeconfig_cert(path):
    cfg = yaml.safe_load(path.read_text())
    return x509.load_pem_x509_certificate(base64.b64decode(cfg["users"][0]["user"]["client-certificate-data"]))


def test_check_expiration_json_lists_every_certificate_and_ca(kdir):
    r = kubeadm(kdir, "check-expiration", "-o", "json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)  # only the object: no "[check-expiration]" lines with a structured output
    assert info["kind"] == "CertificateExpirationInfo" and info["apiVersion"] == "output.kubeadm.k8s.io/v1alpha3"
    assert [c["name"] for c in info["certificates"]] == CERT_NAMES
    assert [c["name"] for c in info["certificateAuthorities"]] == ["ca", "etcd-ca", "front-proxy-ca"]
    by = {c["name"]: c for c in info["certificates"]}
    assert by["etcd-peer"]["caName"] == "etcd-ca" and by["admin.conf"]["caName"] == "ca"
    assert by["front-proxy-client"]["caName"] == "front-proxy-ca"
    for c in info["certificates"]:
        assert not c["missing"] and not c["externallyManaged"]
        assert 364 * 86400 < c["residualTime"] <= 365 * 86400
        assert datetime.datetime.strptime(c["expirationDate"], "%Y-%m-%dT%H:%M:%SZ")
    assert all("caName" not in c for c in info["certificateAuthorities"])
    assert all(c["residualTime"] > 9 * 365 * 86400 for c in info["certificateAuthorities"])


def test_check_expiration_text_and_yaml(kdir):
    (kdir / "scheduler.conf").unlink()
    r = kubeadm(kdir, "check-expiration")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["CERTIFICATE", "EXPIRES", "RESIDUAL", "TIME", "CERTIFICATE", "AUTHORITY",
                                "EXTERNALLY", "MANAGED"]
    apiserver = next(line for line in lines if line.startswith("apiserver "))
    assert apiserver.split()[-3:] == ["364d", "ca", "no"] and apiserver.endswith("no      ")
    assert "!MISSING! scheduler.conf" in r.stdout
    assert "" in lines and lines[lines.index("") + 1].startswith("CERTIFICATE AUTHORITY   EXPIRES")
    y = yaml.safe_load(kubeadm(kdir, "check-expiration", "-o", "yaml").stdout)
    assert y["kind"] == "CertificateExpirationInfo"
    assert {c["name"]: c["missing"] for c in y["certificates"]}["scheduler.conf"] is True


def test_renew_all_resigns_with_the_same_subject_and_sans(kdir):
    before_api = pki.load_cert((kdir / "pki" / "apiserver.crt").read_bytes())
    before_admin = kubeconfig_cert(kdir / "admin.conf")
    old_key = (kdir / "pki" / "apiserver.key").read_bytes()
    r = kubeadm(kdir, "renew", "all")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == ("certificate embedded in the kubeconfig file for the admin to use and for "
                                        "kubeadm itself renewed")
    assert "certificate for serving the Kubernetes API renewed" in r.stdout.splitlines()
    assert "certificate embedded in the kubeconfig file for the super-admin renewed" in r.stdout.splitlines()
    assert sum(line.endswith(" renewed") for line in r.stdout.splitlines()) == 11
    assert r.stdout.endswith("\n\n" + DONE + "\n")
    after_api = pki.load_cert((kdir / "pki" / "apiserver.crt").read_bytes())
    assert after_api.serial_number != before_api.serial_number
    assert pki.not_valid_after(after_api) >= pki.not_valid_after(before_api)
    assert after_api.subject == before_api.subject
    san = x509.SubjectAlternativeName
    assert after_api.extensions.get_extension_for_class(san).value == \
        before_api.extensions.get_extension_for_class(san).value
    assert (kdir / "pki" / "apiserver.key").read_bytes() != old_key
    assert oct((kdir / "pki" / "apiserver.key").stat().st_mode & 0o777) == "0o600"
    ca = pki.load_cert((kdir / "pki" / "ca.crt").read_bytes())
    assert after_api.issuer == ca.subject
    after_admin = kubeconfig_cert(kdir / "admin.conf")
    assert after_admin.serial_number != before_admin.serial_number
    assert after_admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "kubeadm:cluster-admins"
    assert oct((kdir / "admin.conf").stat().st_mode & 0o777) == "0o600"


def test_renew_one_certificate_only(kdir):
    before = (kdir / "pki" / "etcd" / "server.crt").read_bytes()
    api = (kdir / "pki" / "apiserver.crt").read_bytes()
    r = kubeadm(kdir, "renew", "etcd-server")
    assert (r.returncode, r.stdout) == (0, "certificate for serving etcd renewed\n")
    assert (kdir / "pki" / "etcd" / "server.crt").read_bytes() != before
    assert (kdir / "pki" / "apiserver.crt").read_bytes() == api


def test_renew_reports_missing_and_external_ca(kdir):
    (kdir / "super-admin.conf").unlink()
    (kdir / "pki" / "front-proxy-ca.key").unlink()  # CA without its key: externally managed
    r = kubeadm(kdir, "renew", "all")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "MISSING! certificate embedded in the kubeconfig file for the super-admin" in lines
    assert "Detected external front-proxy-ca, certificate for the front proxy client can't be renewed" in lines
    info = json.loads(kubeadm(kdir, "check-expiration", "-o", "json").stdout)
    assert {c["name"]: c["externallyManaged"] for c in info["certificateAuthorities"]}["front-proxy-ca"] is True


def test_renew_unknown_certificate_and_missing_subcommand():
    r = kubeadm(Path("/nonexistent"), "renew", "kubelet.conf")
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == 'error: invalid subcommand: "kubelet.conf"\n' + HINT
    r = kubeadm(Path("/nonexistent"), "renew")
    assert r.returncode == 1
    assert r.stderr == 'error: missing subcommand; "renew" is not meant to be run on its own\n' + HINT


def test_missing_ca_fails_with_kubeadms_error(kdir):
    (kdir / "pki" / "ca.crt").unlink()
    path = kdir / "pki" / "ca.crt"
    want = ("error: Error checking external CA condition for ca certificate authority: failure loading certificate "
            "for CA: couldn't load the certificate file %s: open %s: no such file or directory\n" % (path, path) + HINT)
    for args in (("check-expiration", "-o", "json"), ("renew", "all")):
        r = kubeadm(kdir, *args)
        assert (r.returncode, r.stderr) == (1, want), args


def test_missing_etcd_ca_stops_renewal(kdir):
    for name in ("ca.crt", "ca.key"):
        (kdir / "pki" / "etcd" / name).unlink()
    r = kubeadm(kdir, "renew", "apiserver-etcd-client")
    assert r.returncode == 1
    assert r.stderr == "error: couldn't load etcd/ca certificate authority from %s\n" % (kdir / "pki") + HINT


def test_empty_pki_is_all_missing(tmp_path):
    (tmp_path / "pki").mkdir()
    r = kubeadm(tmp_path, "check-expiration", "-o", "json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert all(c["missing"] and c["expirationDate"] is None for c in info["certificates"])
    assert all(c["missing"] for c in info["certificateAuthorities"])
    r = kubeadm(tmp_path, "renew", "all")
    assert r.returncode == 0
    assert r.stdout.count("MISSING! ") == 11 and r.stdout.endswith(DONE + "\n")


def test_bad_output_format(kdir):
    r = kubeadm(kdir, "check-expiration", "-o", "wide")
    assert r.returncode == 1
    assert r.stderr.startswith('error: could not construct output printer: unable to match a printer suitable for '
                               'the output format "wide"')
