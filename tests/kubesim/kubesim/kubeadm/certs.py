"""kubeadm certs check-expiration / renew (cmd/kubeadm/app/cmd/certs.go, phases/certs/renewal).

What is modelled (read from kubeadm's source):
  - the renewal manager's certificate list: the PKI certificates of certsphase.GetDefaultCertList (without
    the etcd ones when etcd is external) and the client certificates embedded in admin.conf,
    super-admin.conf, controller-manager.conf and scheduler.conf (kubelet.conf is left to the kubelet's
    own rotation), sorted by name; the CAs they depend on;
  - check-expiration: text (two tabwriter tables, ``!MISSING!`` rows), ``-o json|yaml`` as the
    ``output.kubeadm.k8s.io/v1alpha3`` CertificateExpirationInfo object (residualTime in seconds,
    caName, externallyManaged, missing);
  - renew <name>|all: re-signs each certificate with its CA from the PKI directory keeping the
    subject (CN, O), the SANs and the extended key usages, with a new key and
    ``certificateValidityPeriod`` from the cluster's configuration; a certificate whose CA has no key
    is externally managed and not renewed; messages and errors as kubeadm prints them;
  - the configuration comes from --config, else from the kubeadm-config ConfigMap through --kubeconfig
    (default /etc/kubernetes/admin.conf), else kubeadm's defaults; --cert-dir overrides certificatesDir.

``KUBESIM_KUBERNETES_DIR`` (tests only) replaces /etc/kubernetes as the kubeconfig folder, which real
kubeadm hard-codes, so the unit tests can work in a temporary directory.
"""

import base64
import datetime
import json
import os
import sys

import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubesim import output, pki
from kubesim.apiclient import Client
from . import config as K
from . import constants as C
from .errors import KubeadmError
from .flags import parse

OUTPUT_API = "output.kubeadm.k8s.io/v1alpha3"
DONE = ("\nDone renewing certificates. You must restart the kube-apiserver, kube-controller-manager, "
        "kube-scheduler and etcd, so that they can use the new certificates.")

# (name, long name, file base name in the PKI dir, CA name, CA base name)
PKI_CERTS = [
    ("apiserver", "certificate for serving the Kubernetes API", "apiserver", "ca", "ca"),
    ("apiserver-kubelet-client", "certificate for the API server to connect to kubelet",
     "apiserver-kubelet-client", "ca", "ca"),
    ("front-proxy-client", "certificate for the front proxy client", "front-proxy-client",
     "front-proxy-ca", "front-proxy-ca"),
    ("etcd-server", "certificate for serving etcd", "etcd/server", "etcd-ca", "etcd/ca"),
    ("etcd-peer", "certificate for etcd nodes to communicate with each other", "etcd/peer", "etcd-ca", "etcd/ca"),
    ("etcd-healthcheck-client", "certificate for liveness probes to healthcheck etcd", "etcd/healthcheck-client",
     "etcd-ca", "etcd/ca"),
    ("apiserver-etcd-client", "certificate the apiserver uses to access etcd", "apiserver-etcd-client",
     "etcd-ca", "etcd/ca"),
]
# (file name, long name); all signed by the cluster CA
KUBECONFIG_CERTS = [
    (C.ADMIN_CONF, "certificate embedded in the kubeconfig file for the admin to use and for kubeadm itself"),
    (C.SUPER_ADMIN_CONF, "certificate embedded in the kubeconfig file for the super-admin"),
    (C.CONTROLLER_MANAGER_CONF, "certificate embedded in the kubeconfig file for the controller manager to use"),
    (C.SCHEDULER_CONF, "certificate embedded in the kubeconfig file for the scheduler manager to use"),
]
CAS = [("ca", "ca"), ("front-proxy-ca", "front-proxy-ca"), ("etcd-ca", "etcd/ca")]
COMMON_FLAGS = {"config": "str", "cert-dir": "str", "kubeconfig": "str"}
EXPIRATION_FLAGS = dict(COMMON_FLAGS, output="str", o="str", **{"allow-missing-template-keys": "bool",
                                                                  "show-managed-fields": "bool"})


def out(line=""):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def kubernetes_dir():
    return os.environ.get("KUBESIM_KUBERNETES_DIR") or C.KUBERNETES_DIR


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


# ---------------------------------------------------------------- configuration

def load_cluster(flags, prefix, printer):
    """getInternalCfg: --config, else the kubeadm-config ConfigMap, else defaults; --cert-dir wins."""
    cluster = None
    if flags.get("config"):
        docs = K.load_documents(flags["config"])
        cluster = next((d for d in docs if isinstance(d, dict) and d.get("kind") == "ClusterConfiguration"), {})
    else:
        path = flags.get("kubeconfig", os.path.join(C.KUBERNETES_DIR, C.ADMIN_CONF))
        client = None
        try:
            client = Client.from_kubeconfig(path, timeout=5)
        except Exception:  # noqa: BLE001 - kubeadm ignores the error: no client, defaults
            client = None
        if client is not None:
            printer('[%s] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"...'
                    % prefix)
            printer("[%s] Use 'kubeadm init phase upload-config kubeadm --config your-config-file' to re-upload it."
                    % prefix)
            try:
                cm = client.get("/api/v1/namespaces/kube-system/configmaps/kubeadm-config")
                cluster = yaml.safe_load(cm["data"]["ClusterConfiguration"]) or {}
                printer("")
            except Exception:  # noqa: BLE001 - any failure: kubeadm falls back to its defaults
                printer("[%s] Error reading configuration from the Cluster. Falling back to default configuration"
                        % prefix)
                printer("")
                cluster = None
    cluster = dict(cluster or {})
    if flags.get("cert-dir"):
        cluster["certificatesDir"] = flags["cert-dir"]
    cluster.setdefault("certificatesDir", C.PKI_DIR)
    return cluster


# ---------------------------------------------------------------- the manager

class Handler:
    def __init__(self, name, long_name, kind, path, ca_name, ca_base):
        self.name, self.long_name, self.kind, self.path = name, long_name, kind, path
        self.ca_name, self.ca_base = ca_name, ca_base


class Manager:
    """renewal.Manager: the certificates and CAs expected for a ClusterConfiguration."""

    def __init__(self, cluster):
        self.pki_dir = cluster.get("certificatesDir", C.PKI_DIR)
        self.kdir = kubernetes_dir()
        self.cluster = cluster
        external = bool((cluster.get("etcd") or {}).get("external"))
        certs = [Handler(n, ln, "pki", base, ca, ca_base) for n, ln, base, ca, ca_base in PKI_CERTS
                 if not (external and ca == "etcd-ca")]
        certs += [Handler(f, ln, "kubeconfig", os.path.join(self.kdir, f), "ca", "ca") for f, ln in KUBECONFIG_CERTS]
        self.certs = sorted(certs, key=lambda h: h.name)
        self.by_name = {h.name: h for h in self.certs}
        self.cas = sorted(((n, base) for n, base in CAS if not (external and n == "etcd-ca")), key=lambda c: c[0])

    def _crt(self, base):
        return os.path.join(self.pki_dir, base + ".crt")

    def _key(self, base):
        return os.path.join(self.pki_dir, base + ".key")

    def exists(self, h):
        return os.path.exists(h.path if h.kind == "kubeconfig" else self._crt(h.path))

    def _load_cert_file(self, base):
        path = self._crt(base)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise KubeadmError("couldn't load the certificate file %s: %s" % (path, K._os_err(e, path)))
        certs = pki.load_certs(data)
        if not certs:
            raise KubeadmError("couldn't load the certificate file %s: data does not contain any valid RSA or "
                               "ECDSA certificates" % path)
        return certs[0]

    def externally_managed(self, ca_base):
        """IsExternallyManaged: the CA certificate is there but its key is not (etcd's CA never is)."""
        if ca_base == "etcd/ca":
            return False
        ux = {"ca": "CA", "front-proxy-ca": "front-proxy CA"}[ca_base]
        try:
            ca = self._load_cert_file(ca_base)
        except KubeadmError as e:
            raise KubeadmError("Error checking external CA condition for %s certificate authority: failure loading "
                               "certificate for %s: %s" % (ca_base, ux, e.message))
        if not _is_ca(ca):
            raise KubeadmError("Error checking external CA condition for %s certificate authority: certificate %s is "
                               "not a CA" % (ca_base, ux))
        return not os.path.exists(self._key(ca_base))

    def read(self, h):
        if h.kind == "pki":
            return self._load_cert_file(h.path)
        cfg, user = self._read_kubeconfig(h.path)
        data = user.get("client-certificate-data")
        if not data:
            raise KubeadmError("kubeConfig file %s does not contain a client certificate" % h.path)
        certs = pki.load_certs(base64.b64decode(data))
        if not certs:
            raise KubeadmError("kubeConfig file %s does not contain a valid client certificate" % h.path)
        return certs[0]

    @staticmethod
    def _read_kubeconfig(path):
        try:
            cfg = pki.read_kubeconfig(path) or {}
        except (OSError, yaml.YAMLError) as e:
            raise KubeadmError("failed to load kubeConfig file %s: %s" % (path, e))
        ctx_name = cfg.get("current-context", "")
        ctx = next((c.get("context") or {} for c in cfg.get("contexts") or [] if c.get("name") == ctx_name), None)
        if ctx is None:
            raise KubeadmError("invalid kubeConfig file %s: missing context %s" % (path, ctx_name))
        user = next((u.get("user") or {} for u in cfg.get("users") or [] if u.get("name") == ctx.get("user")), None)
        if user is None:
            raise KubeadmError("invalid kubeConfig file %s: missing authInfo %s" % (path, ctx.get("user")))
        return cfg, user

    def expiration(self, h):
        external = self.externally_managed(h.ca_base)
        return self.read(h), external

    def load_ca(self, base):
        """certsphase.LoadCertificateAuthority."""
        crt, key = self._crt(base), self._key(base)
        if not os.path.exists(crt) and not os.path.exists(key):
            raise KubeadmError("couldn't load %s certificate authority from %s" % (base, self.pki_dir))
        try:
            cert = self._load_cert_file(base)
            with open(key, "rb") as f:
                ca_key = pki.load_key(f.read())
        except KubeadmError as e:
            raise KubeadmError("failure loading %s certificate authority: %s" % (base, e.message))
        except (OSError, ValueError) as e:
            msg = K._os_err(e, key) if isinstance(e, OSError) else str(e)
            raise KubeadmError("failure loading %s certificate authority: couldn't load the private key file %s: %s"
                               % (base, key, msg))
        if not _is_ca(cert):
            raise KubeadmError("%s certificate is not a certificate authority" % base)
        return cert, ca_key

    def renew(self, name):
        """RenewUsingLocalCA -> True (renewed) / False (external CA)."""
        h = self.by_name.get(name)
        if h is None:
            raise KubeadmError("%s is not a valid certificate for this cluster" % name)
        if self.externally_managed(h.ca_base):
            return False
        old = self.read(h)
        ca_cert, ca_key = self.load_ca(h.ca_base)
        cn, orgs, dns, ips, server, client = _config_of(old)
        valid = _validity(self.cluster)
        cert, key = pki.new_cert(ca_cert, ca_key, cn, orgs, dns, ips, server=server, client=client,
                                 validity=valid, algorithm=self.cluster.get("encryptionAlgorithm", "RSA-2048"))
        if h.kind == "pki":
            pki.write_pair(self.pki_dir, h.path, cert, key)
        else:
            cfg, user = self._read_kubeconfig(h.path)
            user["client-certificate-data"] = base64.b64encode(pki.cert_pem(cert)).decode()
            user["client-key-data"] = base64.b64encode(pki.key_pem(key)).decode()
            pki.write_kubeconfig(h.path, cfg)
        return True


def _is_ca(cert):
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _config_of(cert):
    """certToConfig: CN, O, SANs and the extended key usages of the current certificate."""
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = cn[0].value if cn else ""
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    dns, ips = [], []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = san.get_values_for_type(x509.DNSName)
        ips = [str(i) for i in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    try:
        eku = list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        eku = []
    return cn, orgs, dns, ips, ExtendedKeyUsageOID.SERVER_AUTH in eku, ExtendedKeyUsageOID.CLIENT_AUTH in eku


def _validity(cluster):
    try:
        return datetime.timedelta(seconds=K.parse_duration(cluster.get("certificateValidityPeriod") or "8760h"))
    except ValueError:
        return pki.CERT_VALIDITY


# ---------------------------------------------------------------- check-expiration

def expiration_info(rm):
    """fetchCertificateExpirationInfo -> the CertificateExpirationInfo object (Go field order)."""
    now = _now()
    certs, cas = [], []
    for h in rm.certs:
        if not rm.exists(h):
            certs.append(_entry(h.name, None, now, False, None))
            continue
        cert, external = rm.expiration(h)
        certs.append(_entry(h.name, pki.not_valid_after(cert), now, external, h.ca_name))
    for name, base in rm.cas:
        if not os.path.exists(rm._crt(base)):
            cas.append(_entry(name, None, now, False, None))
            continue
        external = rm.externally_managed(base)
        cas.append(_entry(name, pki.not_valid_after(rm._load_cert_file(base)), now, external, None))
    return {"kind": "CertificateExpirationInfo", "apiVersion": OUTPUT_API, "certificates": certs,
            "certificateAuthorities": cas}


def _entry(name, not_after, now, external, ca_name):
    e = {"name": name,
         "expirationDate": None if not_after is None else not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
         "residualTime": 0 if not_after is None else int((not_after - now).total_seconds()),
         "externallyManaged": external}
    if ca_name:
        e["caName"] = ca_name
    e["missing"] = not_after is None
    return e


def _text_date(rfc3339):
    when = datetime.datetime.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ")
    return when.strftime("%b %d, %Y %H:%M UTC")


def render_text(info):
    """certTextPrinter: two tabwriter blocks (minwidth 10, padding 3), separated by an empty line."""
    yes_no = {True: "yes", False: "no"}
    rows = ["CERTIFICATE\tEXPIRES\tRESIDUAL TIME\tCERTIFICATE AUTHORITY\tEXTERNALLY MANAGED"]
    for c in info["certificates"]:
        if c["missing"]:
            rows.append("!MISSING! %s\t\t\t\t" % c["name"])
            continue
        rows.append("%s\t%s\t%s\t%s\t%-8s" % (c["name"], _text_date(c["expirationDate"]),
                                              output.short_human_duration(c["residualTime"]), c.get("caName", ""),
                                              yes_no[c["externallyManaged"]]))
    cas = ["CERTIFICATE AUTHORITY\tEXPIRES\tRESIDUAL TIME\tEXTERNALLY MANAGED"]
    for c in info["certificateAuthorities"]:
        if c["missing"]:
            cas.append("!MISSING! %s\t\t\t" % c["name"])
            continue
        cas.append("%s\t%s\t%s\t%-8s" % (c["name"], _text_date(c["expirationDate"]),
                                         output.short_human_duration(c["residualTime"]),
                                         yes_no[c["externallyManaged"]]))
    return output._tabwriter(rows) + "\n" + output._tabwriter(cas)


def check_expiration(argv):
    flags, args = parse(argv, EXPIRATION_FLAGS)
    if args:
        raise KubeadmError('unknown command "%s" for "kubeadm certs check-expiration"' % args[0])
    fmt = flags.get("output", flags.get("o", "text"))
    if fmt not in ("text", "json", "yaml"):
        raise KubeadmError('could not construct output printer: unable to match a printer suitable for the output '
                           'format "%s", allowed formats are: json,jsonpath,jsonpath-as-json,jsonpath-file,text,yaml'
                           % fmt)
    # structured printers print nothing but the object (kubeadm's Printf is a no-op for them)
    cluster = load_cluster(flags, "check-expiration", out if fmt == "text" else (lambda _line: None))
    info = expiration_info(Manager(cluster))
    if fmt == "json":
        sys.stdout.write(output._go_json(info) + "\n")
    elif fmt == "yaml":
        sys.stdout.write(yaml.safe_dump(json.loads(json.dumps(info)), default_flow_style=False, sort_keys=True))
    else:
        sys.stdout.write(render_text(info))
    sys.stdout.flush()
    return 0


# ---------------------------------------------------------------- renew

def _renew_one(rm, h):
    if not rm.exists(h):
        out("MISSING! %s" % h.long_name)
        return
    if not rm.renew(h.name):
        out("Detected external %s, %s can't be renewed" % (h.ca_base, h.long_name))
        return
    out("%s renewed" % h.long_name)


def renew(argv):
    names = [n for n, *_ in PKI_CERTS] + [f for f, _ in KUBECONFIG_CERTS]
    if not argv or argv[0].startswith("-"):
        parse(argv, COMMON_FLAGS)
        raise KubeadmError('missing subcommand; "renew" is not meant to be run on its own')
    sub = argv[0]
    if sub != "all" and sub not in names:
        raise KubeadmError('invalid subcommand: "%s"' % sub)
    flags, args = parse(argv[1:], COMMON_FLAGS)
    if args:
        raise KubeadmError('unknown command "%s" for "kubeadm certs renew %s"' % (args[0], sub))
    cluster = load_cluster(flags, "renew", out)
    rm = Manager(cluster)
    if sub == "all":
        for h in rm.certs:
            _renew_one(rm, h)
        out(DONE)
        return 0
    h = rm.by_name.get(sub)
    if h is None:  # an etcd certificate with external etcd
        raise KubeadmError("%s is not a valid certificate for this cluster" % sub)
    _renew_one(rm, h)
    return 0
