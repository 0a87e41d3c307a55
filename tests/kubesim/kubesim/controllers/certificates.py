"""kube-controller-manager's CSR controllers (pkg/controller/certificates), both on by default:

- approver (``certificatesigningrequest-approving-controller``, alias ``csrapproving``,
  approver/sarapprove.go): a pending kubelet client CSR (signer
  ``kubernetes.io/kube-apiserver-client-kubelet`` passing ValidateKubeletClientCSR) is approved when
  a SubjectAccessReview for its requester allows ``create certificatesigningrequests/selfnodeclient``
  (only when the requester is the CSR's common name) or, failing that,
  ``create certificatesigningrequests/nodeclient``; the Approved condition goes through the
  ``/approval`` subresource. With kubeadm's bindings, a bootstrap token's CSR is approved through
  ``kubeadm:node-autoapprove-bootstrap`` (nodeclient) and a node's renewal through
  ``kubeadm:node-autoapprove-certificate-rotation`` (selfnodeclient); anything else stays Pending.
- signer (``certificatesigningrequest-signing-controller``, alias ``csrsigning``, signer/signer.go):
  approved, not failed CSRs of the four kubernetes.io signers are signed with
  ``--cluster-signing-cert-file``/``--cluster-signing-key-file`` (or the per-signer files), for
  ``--cluster-signing-duration`` (default 8760h) or the shorter ``spec.expirationSeconds`` (at least
  10 minutes), backdated 5 minutes unless the lifetime is 8 h or less, capped at the CA's expiry; a
  CSR that fails its signer's validation gets a Failed condition (SignerValidationFailure).
"""

import base64
import datetime
import logging

from ..apiclient import ApiError

log = logging.getLogger("kube-controller-manager")

CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
SAR = "/apis/authorization.k8s.io/v1/subjectaccessreviews"

KUBELET_CLIENT = "kubernetes.io/kube-apiserver-client-kubelet"
KUBELET_SERVING = "kubernetes.io/kubelet-serving"
APISERVER_CLIENT = "kubernetes.io/kube-apiserver-client"
LEGACY_UNKNOWN = "kubernetes.io/legacy-unknown"
SIGNERS = (KUBELET_SERVING, KUBELET_CLIENT, APISERVER_CLIENT, LEGACY_UNKNOWN)

DEFAULT_DURATION = 8760 * 3600.0
KUBELET_CLIENT_USAGES = ({"digital signature", "key encipherment", "client auth"}, {"digital signature", "client auth"})
KUBELET_SERVING_USAGES = ({"digital signature", "key encipherment", "server auth"}, {"digital signature", "server auth"})


class SignerError(Exception):
    pass


def _go_list(values):
    return "[" + " ".join(sorted(values)) + "]"


def parse_request(csr):
    from cryptography import x509
    raw = base64.b64decode((csr.get("spec") or {}).get("request") or "")
    return x509.load_pem_x509_csr(raw)


def _subject(req):
    from cryptography.x509.oid import NameOID
    cns = [a.value for a in req.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    orgs = [a.value for a in req.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return (cns[0] if cns else ""), orgs


def _sans(req):
    from cryptography import x509
    try:
        ext = req.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], [], [], []
    return (ext.get_values_for_type(x509.DNSName), ext.get_values_for_type(x509.IPAddress),
            ext.get_values_for_type(x509.RFC822Name), ext.get_values_for_type(x509.UniformResourceIdentifier))


def validate_kubelet_client(req, usages):
    """capihelper.ValidateKubeletClientCSR: None or the error text."""
    cn, orgs = _subject(req)
    dns, ips, emails, uris = _sans(req)
    if orgs != ["system:nodes"]:
        return "subject organization is not system:nodes"
    if dns:
        return "DNS subjectAltNames are not allowed"
    if emails:
        return "Email subjectAltNames are not allowed"
    if ips:
        return "IP subjectAltNames are not allowed"
    if uris:
        return "URI subjectAltNames are not allowed"
    if not cn.startswith("system:node:"):
        return "subject common name does not begin with system:node:"
    if set(usages) not in KUBELET_CLIENT_USAGES:
        return "usages did not match " + _go_list(KUBELET_CLIENT_USAGES[0])
    return None


def validate_kubelet_serving(req, usages):
    """capihelper.ValidateKubeletServingCSR."""
    cn, orgs = _subject(req)
    dns, ips, emails, uris = _sans(req)
    if orgs != ["system:nodes"]:
        return "subject organization is not system:nodes"
    if not dns and not ips:
        return "DNS or IP subjectAltName is required"
    if emails:
        return "Email subjectAltNames are not allowed"
    if uris:
        return "URI subjectAltNames are not allowed"
    if set(usages) not in KUBELET_SERVING_USAGES:
        return "usages did not match " + _go_list(KUBELET_SERVING_USAGES[0])
    if not cn.startswith("system:node:"):
        return "subject common name does not begin with system:node:"
    return None


def validate_apiserver_client(req, usages):
    """signer.go validAPIServerClientUsages."""
    has_client_auth = False
    for usage in usages:
        if usage in ("digital signature", "key encipherment"):
            continue
        if usage == "client auth":
            has_client_auth = True
            continue
        return "invalid usage for client certificate: " + usage
    if not has_client_auth:
        return "missing required usage for client certificate: client auth"
    return None


VALIDATORS = {KUBELET_CLIENT: validate_kubelet_client, KUBELET_SERVING: validate_kubelet_serving,
              APISERVER_CLIENT: validate_apiserver_client, LEGACY_UNKNOWN: lambda req, usages: None}


def conditions(csr):
    return {c.get("type"): c for c in (csr.get("status") or {}).get("conditions") or []
            if c.get("status", "True") == "True"}


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Approver:
    """One pass over the CSRs: approve what the SubjectAccessReviews allow."""

    RECOGNIZERS = (("selfnodeclient", "Auto approving self kubelet client certificate after SubjectAccessReview."),
                   ("nodeclient", "Auto approving kubelet client certificate after SubjectAccessReview."))

    def __init__(self, client):
        self.client = client

    def sync(self):
        approved = []
        for csr in (self.client.list(CSRS) or {}).get("items") or []:
            try:
                if self.handle(csr):
                    approved.append(csr["metadata"]["name"])
            except ApiError as exc:
                log.warning('"Error syncing CSR" csr="%s" err="%s"', csr["metadata"]["name"], exc)
        return approved

    def handle(self, csr):
        if (csr.get("status") or {}).get("certificate"):
            return False
        conds = conditions(csr)
        if "Approved" in conds or "Denied" in conds:
            return False
        spec = csr.get("spec") or {}
        if spec.get("signerName") != KUBELET_CLIENT:
            return False
        try:
            req = parse_request(csr)
        except ValueError:
            log.warning('"unable to parse csr" csr="%s"', csr["metadata"]["name"])
            return False
        if validate_kubelet_client(req, spec.get("usages") or []) is not None:
            return False
        cn, _ = _subject(req)
        for subresource, message in self.RECOGNIZERS:
            if subresource == "selfnodeclient" and spec.get("username") != cn:
                continue
            if self.authorize(spec, subresource):
                self.approve(csr, message)
                return True
        return False

    def authorize(self, spec, subresource):
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                  "spec": {"user": spec.get("username", ""), "uid": spec.get("uid", ""),
                           "groups": spec.get("groups") or [], "extra": spec.get("extra") or {},
                           "resourceAttributes": {"group": "certificates.k8s.io", "version": "*",
                                                  "resource": "certificatesigningrequests", "verb": "create",
                                                  "subresource": subresource}}}
        answer = self.client.create(SAR, review) or {}
        return bool((answer.get("status") or {}).get("allowed"))

    def approve(self, csr, message):
        csr.setdefault("status", {}).setdefault("conditions", [])
        csr["status"]["conditions"] = list(csr["status"]["conditions"] or []) + [{
            "type": "Approved", "status": "True", "reason": "AutoApproved", "message": message,
            "lastUpdateTime": _now(), "lastTransitionTime": _now()}]
        log.info('"CSR approved" csr="%s"', csr["metadata"]["name"])
        self.client.update(f"{CSRS}/{csr['metadata']['name']}/approval", csr)


class Signer:
    """The signing controllers: ``files`` maps each signer name to its (cert, key) paths."""

    def __init__(self, client, files, duration=DEFAULT_DURATION):
        self.client = client
        self.duration_max = duration or DEFAULT_DURATION
        self.cas = {}
        for signer, (cert_file, key_file) in files.items():
            self.cas[signer] = self.load(signer, cert_file, key_file)

    @staticmethod
    def load(signer, cert_file, key_file):
        """newCAProvider: both files must be readable and match, else the controller fails to start."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        try:
            with open(cert_file, "rb") as fh:
                cert = x509.load_pem_x509_certificate(fh.read())
            with open(key_file, "rb") as fh:
                key = serialization.load_pem_private_key(fh.read(), None)
        except (OSError, ValueError) as exc:
            raise SignerError(f"failed to start {signer} certificate controller: error reading CA cert file "
                              f'"{cert_file}": {exc}') from None
        return cert, key

    def sync(self):
        issued = []
        for csr in (self.client.list(CSRS) or {}).get("items") or []:
            try:
                if self.handle(csr):
                    issued.append(csr["metadata"]["name"])
            except ApiError as exc:
                log.warning('"Error syncing CSR" csr="%s" err="%s"', csr["metadata"]["name"], exc)
        return issued

    def handle(self, csr):
        conds = conditions(csr)
        if "Approved" not in conds or "Failed" in conds:
            return False
        if (csr.get("status") or {}).get("certificate"):
            return False
        spec = csr.get("spec") or {}
        signer = spec.get("signerName")
        if signer not in self.cas:
            return False
        name = csr["metadata"]["name"]
        try:
            req = parse_request(csr)
        except ValueError:
            log.warning('"unable to parse csr" csr="%s"', name)
            return False
        error = VALIDATORS[signer](req, spec.get("usages") or [])
        status = csr.setdefault("status", {})
        if error is not None:
            status["conditions"] = list(status.get("conditions") or []) + [{
                "type": "Failed", "status": "True", "reason": "SignerValidationFailure", "message": error,
                "lastUpdateTime": _now(), "lastTransitionTime": _now()}]
            self.client.update(f"{CSRS}/{name}/status", csr)
            return False
        status["certificate"] = base64.b64encode(self.sign(signer, req, spec)).decode()
        self.client.update(f"{CSRS}/{name}/status", csr)
        log.info('"CSR signed" csr="%s" signerName="%s"', name, signer)
        return True

    def lifetime(self, spec):
        seconds = spec.get("expirationSeconds")
        if seconds is None:
            return self.duration_max
        return max(600.0, min(float(seconds), self.duration_max))

    def sign(self, signer, req, spec):
        """authority.PermissiveSigningPolicy: subject, SANs and key from the request, usages from
        spec.usages, not a CA."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.x509.oid import ExtendedKeyUsageOID
        from .. import pki
        ca_cert, ca_key = self.cas[signer]
        ttl = self.lifetime(spec)
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        backdate = datetime.timedelta(minutes=5) if ttl > 8 * 3600 else datetime.timedelta(0)
        not_after = min(now + datetime.timedelta(seconds=ttl), pki.not_valid_after(ca_cert))
        usages = set(spec.get("usages") or [])
        eku = [oid for name, oid in (("server auth", ExtendedKeyUsageOID.SERVER_AUTH),
                                     ("client auth", ExtendedKeyUsageOID.CLIENT_AUTH)) if name in usages]
        builder = (x509.CertificateBuilder().subject_name(req.subject).issuer_name(ca_cert.subject)
                   .public_key(req.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - backdate).not_valid_after(not_after)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage("digital signature" in usages, "content commitment" in usages,
                                                "key encipherment" in usages, "data encipherment" in usages,
                                                "key agreement" in usages, False, False, False, False),
                                  critical=True)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                                  critical=False))
        if eku:
            builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        try:
            san = req.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            builder = builder.add_extension(san.value, critical=False)
        except x509.ExtensionNotFound:
            pass
        cert = builder.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM)


def signer_files(opts):
    """startCertificateSigningRequestSigningController's choice of files: {signer: (cert, key)},
    None when the controller is skipped (no files), or SignerError when both the default and
    per-signer files are given."""
    specific = {
        KUBELET_SERVING: ("cluster-signing-kubelet-serving-cert-file", "cluster-signing-kubelet-serving-key-file"),
        KUBELET_CLIENT: ("cluster-signing-kubelet-client-cert-file", "cluster-signing-kubelet-client-key-file"),
        APISERVER_CLIENT: ("cluster-signing-kube-apiserver-client-cert-file",
                           "cluster-signing-kube-apiserver-client-key-file"),
        LEGACY_UNKNOWN: ("cluster-signing-legacy-unknown-cert-file", "cluster-signing-legacy-unknown-key-file"),
    }
    any_specific = any(opts.get(c) or opts.get(k) for c, k in specific.values())
    missing_single = not opts.get("cluster-signing-cert-file") or not opts.get("cluster-signing-key-file")
    if missing_single and not any_specific:
        return None
    if not missing_single and any_specific:
        raise SignerError("cannot specify default and per controller certs at the same time")
    files = {}
    for signer, (cflag, kflag) in specific.items():
        if any_specific:
            pair = (opts.get(cflag) or "", opts.get(kflag) or "")
        else:
            pair = (opts["cluster-signing-cert-file"], opts["cluster-signing-key-file"])
        if pair[0] or pair[1]:
            files[signer] = pair
        else:
            log.info('"Skipping CSR signer controller because specific files were specified for other signers '
                     'and not this one" controller="%s"', signer)
    return files
