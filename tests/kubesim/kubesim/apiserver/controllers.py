"""Controllers embedded in the API server process (in a real cluster they live in
kube-controller-manager): the bootstrap signer (JWS signatures in kube-public/cluster-info), the
CSR approver for kubelet client certificates and the CSR signer.

All of them only write with compare-and-swap, so several API servers (HA) can run them at once."""

import base64
import datetime
import hashlib
import hmac
import json
import os
import sys
import threading
import time

from . import auth
from .store import APIError, now

JWS_PREFIX = "jws-kubeconfig-"


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def detached_jws(content, token_id, token_secret):
    """k8s.io/cluster-bootstrap/token/jws.ComputeDetachedSignature: HS256, key = token secret,
    protected header {"alg":"HS256","kid":<token id>} (go-jose marshals it with sorted keys),
    payload dropped from the compact serialization ("header..signature")."""
    header = json.dumps({"alg": "HS256", "kid": token_id}, separators=(",", ":"), sort_keys=True).encode()
    signing_input = _b64url(header) + "." + _b64url(content.encode() if isinstance(content, str) else content)
    sig = hmac.new(token_secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return _b64url(header) + ".." + _b64url(sig)


def _sec(data, key):
    v = (data or {}).get(key)
    try:
        return base64.b64decode(v).decode() if v is not None else None
    except (ValueError, UnicodeDecodeError):
        return None


def parse_duration(text):
    """Go duration subset: 300ms, 5m, 1h30m, 10s; 0 disables."""
    import re
    total = 0.0
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for num, unit in re.findall(r"([0-9.]+)(ms|s|m|h)", text):
        total += float(num) * units[unit]
    return total


def log(msg):
    sys.stderr.write("%s kubesim-apiserver: %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


class Controllers:
    def __init__(self, api, interval=1.0):
        self.api = api
        self.interval = interval
        self.stop = threading.Event()
        self.ca = None
        ca_dir = os.path.dirname(api.opts.get("client-ca-file") or "/etc/kubernetes/pki/ca.crt")
        self.ca_cert_path = api.opts.get("client-ca-file") or os.path.join(ca_dir, "ca.crt")
        self.ca_key_path = api.opts.get("kubesim-ca-key-file") or os.path.join(ca_dir, "ca.key")
        self.compaction_interval = parse_duration(api.opts.get("etcd-compaction-interval") or "5m")
        self.next_compaction = time.monotonic() + self.compaction_interval
        self.last_revision = 0
        if self.compaction_interval <= 0:
            self.next_compaction = float("inf")

    def start(self):
        t = threading.Thread(target=self.run, name="controllers", daemon=True)
        t.start()
        return t

    def compaction(self):
        """kube-apiserver's etcd compactor: every interval, compact to the revision seen one interval
        ago, so watches may resume from anything younger than one interval."""
        now_t = time.monotonic()
        if now_t < self.next_compaction:
            return
        self.next_compaction = now_t + self.compaction_interval
        _, rev = self.api.etcd.get("/registry/health")
        if self.last_revision:
            try:
                self.api.etcd.compact(self.last_revision)
            except Exception:
                pass  # another API server compacted already
        self.last_revision = rev

    def run(self):
        while not self.stop.is_set():
            for fn in (self.sign_cluster_info, self.csr_pass, self.crd_pass, self.namespace_pass, self.compaction):
                try:
                    fn()
                except Exception as e:  # keep the loop alive (etcd down, ...)
                    if os.environ.get("KUBESIM_APISERVER_DEBUG"):
                        log("controller %s: %r" % (fn.__name__, e))
            self.stop.wait(self.interval)

    def crd_pass(self):
        self.api.refresh_crds()

    def namespace_pass(self):
        """The namespace controller: a Terminating namespace loses its contents, then goes."""
        from . import admission
        api = self.api
        res = api.res("", "namespaces")
        for ns in api.store.list(res)[0]:
            meta = ns["metadata"]
            if not meta.get("deletionTimestamp"):
                continue
            admission.delete_namespace_contents(api, meta["name"])
            try:
                api.store.delete(res, "", meta["name"], meta["resourceVersion"])
            except APIError:
                pass

    # --- bootstrap signer ---------------------------------------------------------------------
    def sign_cluster_info(self):
        """bootstrapsigner + tokencleaner."""
        api = self.api
        cm_res = api.res("", "configmaps")
        try:
            cm = api.store.get(cm_res, "kube-public", "cluster-info")
        except APIError:
            cm = None
        content = ((cm or {}).get("data") or {}).get("kubeconfig")
        secrets, _ = api.store.list(api.res("", "secrets"), "kube-system", field="type=bootstrap.kubernetes.io/token")
        want = {}
        for s in secrets:
            if auth.token_expired(s.get("data") or {}):
                # tokencleaner: expired bootstrap tokens are deleted
                try:
                    api.store.delete(api.res("", "secrets"), "kube-system", s["metadata"]["name"],
                                     s["metadata"]["resourceVersion"])
                except APIError:
                    pass
                continue
            d = s.get("data") or {}
            tid, tsec = _sec(d, "token-id"), _sec(d, "token-secret")
            if not tid or not tsec or _sec(d, "usage-bootstrap-signing") != "true":
                continue
            if s["metadata"].get("name") != "bootstrap-token-" + tid or auth.token_expired(d):
                continue
            if content is not None:
                want[JWS_PREFIX + tid] = detached_jws(content, tid, tsec)
        if content is None:
            return
        data = dict(cm.get("data") or {})
        have = {k: v for k, v in data.items() if k.startswith(JWS_PREFIX)}
        if have == want:
            return
        for k in have:
            data.pop(k)
        data.update(want)
        cm["data"] = data
        api.store.update(cm_res, "kube-public", "cluster-info", cm, cm["metadata"]["resourceVersion"])

    # --- CSR approver and signer --------------------------------------------------------------
    def load_ca(self):
        if self.ca is None:
            from cryptography import x509
            from cryptography.hazmat.primitives import serialization
            with open(self.ca_cert_path, "rb") as f:
                cert = x509.load_pem_x509_certificate(f.read())
            with open(self.ca_key_path, "rb") as f:
                key = serialization.load_pem_private_key(f.read(), None)
            self.ca = (cert, key)
        return self.ca

    def csr_pass(self):
        api = self.api
        res = api.res("certificates.k8s.io", "certificatesigningrequests")
        csrs, _ = api.store.list(res)
        for csr in csrs:
            st = csr.get("status") or {}
            if st.get("certificate"):
                continue
            types = {c.get("type") for c in st.get("conditions") or []}
            if "Denied" in types or "Failed" in types:
                continue
            spec = csr.get("spec") or {}
            signer = spec.get("signerName")
            name = csr["metadata"]["name"]
            if "Approved" not in types:
                if signer == "kubernetes.io/kube-apiserver-client-kubelet" and self.should_approve(csr):
                    def approve(o):
                        conds = (o.setdefault("status", {}).get("conditions") or [])
                        if any(c.get("type") in ("Approved", "Denied") for c in conds):
                            return None
                        t = now()
                        conds.append({"type": "Approved", "status": "True", "reason": "AutoApproved",
                                      "message": "Auto approving kubelet client certificate after "
                                                 "SubjectAccessReview.",
                                      "lastUpdateTime": t, "lastTransitionTime": t})
                        o["status"]["conditions"] = conds
                        return o
                    csr = api.store.guaranteed_update(res, "", name, approve)
                else:
                    continue
            if signer not in ("kubernetes.io/kube-apiserver-client-kubelet", "kubernetes.io/kube-apiserver-client",
                              "kubernetes.io/kubelet-serving", "kubernetes.io/legacy-unknown"):
                continue
            try:
                pem = self.sign(csr)
            except FileNotFoundError:
                return
            except Exception as e:
                log("csr %s: cannot sign: %s" % (name, e))
                continue

            def issue(o, pem=pem):
                if (o.get("status") or {}).get("certificate"):
                    return None
                o.setdefault("status", {})["certificate"] = base64.b64encode(pem).decode()
                return o
            api.store.guaranteed_update(res, "", name, issue)

    def parse_request(self, csr):
        from cryptography import x509
        raw = base64.b64decode((csr.get("spec") or {}).get("request") or "")
        return x509.load_pem_x509_csr(raw)

    def should_approve(self, csr):
        from cryptography.x509.oid import NameOID
        spec = csr.get("spec") or {}
        try:
            req = self.parse_request(csr)
        except Exception:
            return False
        cns = [a.value for a in req.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        orgs = [a.value for a in req.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
        if len(cns) != 1 or not cns[0].startswith("system:node:") or orgs != ["system:nodes"]:
            return False
        usages = set(spec.get("usages") or [])
        if not usages <= {"digital signature", "key encipherment", "client auth"} or "client auth" not in usages:
            return False
        user = auth.User(spec.get("username", ""), spec.get("groups") or [], spec.get("extra"))
        sub = "selfnodeclient" if spec.get("username") == cns[0] else "nodeclient"
        a = auth.Attributes("create", user, "certificatesigningrequests", "certificates.k8s.io", sub)
        ok, _ = self.api.authorizer.authorize(a)
        return ok

    def sign(self, csr):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.x509.oid import ExtendedKeyUsageOID
        ca_cert, ca_key = self.load_ca()
        req = self.parse_request(csr)
        spec = csr.get("spec") or {}
        now_t = datetime.datetime.now(datetime.timezone.utc)
        seconds = int(spec.get("expirationSeconds") or 365 * 24 * 3600)
        not_after = min(now_t + datetime.timedelta(seconds=seconds),
                        ca_cert.not_valid_after_utc if hasattr(ca_cert, "not_valid_after_utc")
                        else ca_cert.not_valid_after.replace(tzinfo=datetime.timezone.utc))
        usages = set(spec.get("usages") or [])
        eku = []
        if "client auth" in usages:
            eku.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        if "server auth" in usages:
            eku.append(ExtendedKeyUsageOID.SERVER_AUTH)
        b = (x509.CertificateBuilder().subject_name(req.subject).issuer_name(ca_cert.subject)
             .public_key(req.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now_t - datetime.timedelta(minutes=5)).not_valid_after(not_after)
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.KeyUsage("digital signature" in usages, False, "key encipherment" in usages,
                                          False, False, False, False, False, False), critical=True)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                            critical=False))
        if eku:
            b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        if spec.get("signerName") == "kubernetes.io/kubelet-serving":
            try:
                san = req.extensions.get_extension_for_class(x509.SubjectAlternativeName)
                b = b.add_extension(san.value, critical=False)
            except x509.ExtensionNotFound:
                pass
        cert = b.sign(ca_key, hashes.SHA256())
        from cryptography.hazmat.primitives import serialization
        return cert.public_bytes(serialization.Encoding.PEM)
