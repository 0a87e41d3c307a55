"""The controller manager's duties kubeadm depends on, run as the real process (python3 -m
kubesim.controllers) against the API server stand-in on a real etcd: the bootstrap signer, the token
cleaner (and the garbage collector that then removes kubeadm-certs), the CSR approver and signer.

Each duty is shown to happen with the controller manager running and NOT to happen with the API
server alone, with the controller manager stopped, or with ``--controllers`` excluding it (kube-
controller-manager's semantics: ``*``, ``name``, ``-name``; bootstrapsigner and tokencleaner are off
by default, kubeadm passes ``--controllers=*,bootstrapsigner,tokencleaner``). The joins that stall
are kubeadm's own discovery code (kubesim.kubeadm.app.discover) and a kubelet-style bootstrap CSR."""

import base64
import contextlib
import datetime
import json
import os
import sys
import tempfile
import time

import pytest
import yaml

from conftest import (KUBECTL, NODE_BOOTSTRAP_RBAC, NODE_ROTATION_RBAC, bootstrap_token_secret,
                      cluster_role_binding, run_kubectl, wait_for)

from kubesim.apiclient import Client
from kubesim.apiserver import testenv

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/etcd") or not KUBECTL,
                                reason="needs Debian's etcd-server and kubectl")

SECRET = "0123456789abcdef"
SECRETS = "/api/v1/namespaces/kube-system/secrets"
CLUSTER_INFO = "/api/v1/namespaces/kube-public/configmaps/cluster-info"
CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
KUBELET_CLIENT = "kubernetes.io/kube-apiserver-client-kubelet"
OTHER_GROUP = "system:bootstrappers:kf-other"  # may post CSRs, has no auto-approval binding
QUIET = 4  # seconds in which a running controller manager makes several passes (1 s each)

CLUSTER_INFO_RBAC = [
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
     "metadata": {"name": "kubeadm:bootstrap-signer-clusterinfo", "namespace": "kube-public"},
     "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cluster-info"],
                "verbs": ["get"]}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
     "metadata": {"name": "kubeadm:bootstrap-signer-clusterinfo", "namespace": "kube-public"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                 "name": "kubeadm:bootstrap-signer-clusterinfo"},
     "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "system:anonymous"}]},
]


@pytest.fixture(scope="module")
def env():
    d = tempfile.mkdtemp(prefix="kf-kcm-duties-")
    etcd = testenv.Etcd(d).start()
    c = testenv.Cluster(d, etcd)
    try:
        c.start()
        c.admin_conf = c.kubeconfig("super-admin", "kubernetes-super-admin", ["system:masters"])
        c.kcm_conf = c.kubeconfig("controller-manager", "system:kube-controller-manager")
        c.admin = Client.from_kubeconfig(c.admin_conf)
        c.ca_file = os.path.join(c.pki, "ca.crt")
        c.signing = [f"--cluster-signing-cert-file={c.ca_file}",
                     f"--cluster-signing-key-file={os.path.join(c.pki, 'ca.key')}"]
        c.starts = 0
        objs = NODE_BOOTSTRAP_RBAC + [NODE_ROTATION_RBAC] + CLUSTER_INFO_RBAC + [
            cluster_role_binding("kf-other:node-bootstrapper", "system:node-bootstrapper", OTHER_GROUP)]
        with open(c.ca_file, "rb") as fh:
            ca_data = base64.b64encode(fh.read()).decode()
        kubeconfig = yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "clusters": [
            {"name": "", "cluster": {"server": f"https://127.0.0.1:{c.port}", "certificate-authority-data": ca_data}}],
            "contexts": [], "users": []})
        objs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cluster-info",
                                                                         "namespace": "kube-public"},
                     "data": {"kubeconfig": kubeconfig}})
        run_kubectl(c.admin_conf, "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List",
                                                                          "items": objs}))
        yield c
    finally:
        c.stop()
        etcd.stop()
        testenv.cleanup(d)


@contextlib.contextmanager
def controller_manager(c, *args, signing=True):
    """kube-controller-manager stand-in with kubeadm's flags (minus leader election, so a restart
    takes over at once) plus ``args``; stopped (SIGTERM) on exit."""
    port = testenv.free_port()
    c.starts += 1
    argv = [sys.executable, "-m", "kubesim.controllers", f"--kubeconfig={c.kcm_conf}",
            f"--authentication-kubeconfig={c.kcm_conf}", f"--authorization-kubeconfig={c.kcm_conf}",
            "--bind-address=127.0.0.1", f"--secure-port={port}", f"--client-ca-file={c.ca_file}",
            f"--root-ca-file={c.ca_file}", "--cluster-name=kubernetes", "--leader-elect=false",
            "--use-service-account-credentials=true"] + (c.signing if signing else []) + list(args)
    c.kcm_log = os.path.join(c.dir, f"kcm-{c.starts}.log")
    proc = testenv.spawn(argv, c.kcm_log, port, "kube-controller-manager",
                         dict(os.environ, PYTHONPATH=testenv.KUBESIM_ROOT))
    try:
        yield proc
    finally:
        testenv.terminate(proc)


def token(c, tid, **kw):
    run_kubectl(c.admin_conf, "apply", "-f", "-", stdin=json.dumps(bootstrap_token_secret(tid, SECRET, **kw)))


def past(minutes=1):
    return (datetime.datetime.now(datetime.timezone.utc)
            - datetime.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def signatures(c):
    return sorted(k[len("jws-kubeconfig-"):] for k in c.admin.get(CLUSTER_INFO)["data"] if k.startswith("jws-"))


def discover(c, tid, timeout="3s"):
    """kubeadm join's token discovery (the stand-in kubeadm's own code), CA pinning skipped."""
    from kubesim.kubeadm import app
    return app.discover({"discovery": {"bootstrapToken": {"token": f"{tid}.{SECRET}",
                                                          "apiServerEndpoint": f"127.0.0.1:{c.port}",
                                                          "unsafeSkipCAVerification": True}},
                         "timeouts": {"discovery": timeout}})


def discovery_stalls(c, tid):
    from kubesim.kubeadm.errors import KubeadmError
    with pytest.raises(KubeadmError) as exc:
        discover(c, tid)
    assert str(exc.value) == ("couldn't validate the identity of the API Server: could not find a JWS signature "
                              f'in the cluster-info ConfigMap for token ID "{tid}"')


def post_csr(c, requester, cn, orgs=("system:nodes",), usages=("digital signature", "client auth"),
             signer=KUBELET_CLIENT):
    """A kubelet-style client CSR posted by ``requester`` (a Client); returns its name."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    names = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    req = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name(names + [x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
           .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256()))
    body = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"generateName": "csr-"},
            "spec": {"request": base64.b64encode(req.public_bytes(serialization.Encoding.PEM)).decode(),
                     "signerName": signer, "usages": list(usages)}}
    return requester.create(CSRS, body)["metadata"]["name"]


def csr_state(c, name):
    """(condition types, issued certificate or None)."""
    st = c.admin.get(f"{CSRS}/{name}").get("status") or {}
    cert = None
    if st.get("certificate"):
        from cryptography import x509
        cert = x509.load_pem_x509_certificate(base64.b64decode(st["certificate"]))
    return [x["type"] for x in st.get("conditions") or []], cert


def bootstrap_client(c, tid):
    return Client(f"https://127.0.0.1:{c.port}", ca_file=c.ca_file, token=f"{tid}.{SECRET}")


def node_client(c, node):
    crt, key = c.client_cert(node, f"system:node:{node}", ["system:nodes"])
    return Client(f"https://127.0.0.1:{c.port}", ca_file=c.ca_file, cert_file=crt, key_file=key)


def assert_signed_by_cluster_ca(c, cert):
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec
    from kubesim import pki
    with open(c.ca_file, "rb") as fh:
        ca = x509.load_pem_x509_certificate(fh.read())
    assert cert.issuer == ca.subject
    ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
    # --cluster-signing-duration's default (8760h) is capped at the CA's expiry (testenv's CA lives one day)
    assert pki.not_valid_after(cert) == pki.not_valid_after(ca)
    start = getattr(cert, "not_valid_before_utc", None) or cert.not_valid_before.replace(tzinfo=datetime.timezone.utc)
    backdated = datetime.datetime.now(datetime.timezone.utc) - start
    assert datetime.timedelta(minutes=4) < backdated < datetime.timedelta(minutes=6)  # 5 min backdating


# --- the API server alone -------------------------------------------------------------------------
def test_api_server_alone_signs_cleans_and_approves_nothing(env):
    token(env, "aaaaaa")
    token(env, "expird", expiration=past())
    csr = post_csr(env, bootstrap_client(env, "aaaaaa"), "system:node:kf-n1")
    time.sleep(QUIET)
    assert signatures(env) == []
    assert env.admin.get_or_none(f"{SECRETS}/bootstrap-token-expird") is not None
    assert csr_state(env, csr) == ([], None)
    discovery_stalls(env, "aaaaaa")  # a join waits for the signature and times out
    env.pending_csr = csr


# --- kube-controller-manager's defaults: CSRs yes, bootstrap-token controllers no -----------------
def test_default_controllers_approve_and_sign_csrs_only(env):
    with controller_manager(env):  # no --controllers: ['*']
        wait_for(lambda: csr_state(env, env.pending_csr)[1], 20, "the pending bootstrap CSR to be issued")
        types, cert = csr_state(env, env.pending_csr)
        assert types == ["Approved"]
        assert_signed_by_cluster_ca(env, cert)
        obj = env.admin.get(f"{CSRS}/{env.pending_csr}")
        assert obj["status"]["conditions"][0]["reason"] == "AutoApproved"
        assert obj["status"]["conditions"][0]["message"] == \
            "Auto approving kubelet client certificate after SubjectAccessReview."
        time.sleep(2)
        assert signatures(env) == []  # bootstrapsigner: off by default
        assert env.admin.get_or_none(f"{SECRETS}/bootstrap-token-expird") is not None  # tokencleaner: off
        discovery_stalls(env, "aaaaaa")


# --- kubeadm's --controllers=*,bootstrapsigner,tokencleaner ---------------------------------------
def test_kubeadm_controllers_sign_cluster_info_and_clean_tokens(env):
    from kubesim.kubeadm import app, phases
    token(env, "nosign", signing=False)
    with controller_manager(env, "--controllers=*,bootstrapsigner,tokencleaner"):
        wait_for(lambda: signatures(env) == ["aaaaaa"], 20, "the bootstrap signer")
        wait_for(lambda: env.admin.get_or_none(f"{SECRETS}/bootstrap-token-expird") is None, 20, "the token cleaner")
        info = discover(env, "aaaaaa")  # the join's discovery now passes
        assert info["clusters"][0]["cluster"]["server"] == f"https://127.0.0.1:{env.port}"
        discovery_stalls(env, "nosign")  # no usage-bootstrap-signing: never signed
        # kubeadm-certs goes with its 2 h proxy token: token cleaner, then garbage collector
        app.upload_certs(env.admin, {"certificatesDir": env.pki}, phases.new_certificate_key(),
                         out_fn=lambda _: None)
        (ref,) = env.admin.get(f"{SECRETS}/kubeadm-certs")["metadata"]["ownerReferences"]
        time.sleep(2)
        assert env.admin.get_or_none(f"{SECRETS}/kubeadm-certs") is not None  # owner alive
        env.admin.patch(f"{SECRETS}/{ref['name']}",
                        {"data": {"expiration": base64.b64encode(past().encode()).decode()}})
        wait_for(lambda: env.admin.get_or_none(f"{SECRETS}/{ref['name']}") is None, 20, "the proxy token cleaned")
        wait_for(lambda: env.admin.get_or_none(f"{SECRETS}/kubeadm-certs") is None, 20, "kubeadm-certs collected")
        # a deleted token's signature goes
        env.admin.delete(f"{SECRETS}/bootstrap-token-aaaaaa")
        wait_for(lambda: signatures(env) == [], 20, "the deleted token's signature removed")
    # controller manager stopped: a new token is not signed, its join stalls, expired tokens stay
    token(env, "bbbbbb")
    token(env, "expir2", expiration=past())
    time.sleep(QUIET)
    assert signatures(env) == []
    discovery_stalls(env, "bbbbbb")
    assert env.admin.get_or_none(f"{SECRETS}/bootstrap-token-expir2") is not None
    with controller_manager(env, "--controllers=*,bootstrapsigner,tokencleaner"):
        wait_for(lambda: signatures(env) == ["bbbbbb"], 20, "the signature once the controller manager is back")
        wait_for(lambda: env.admin.get_or_none(f"{SECRETS}/bootstrap-token-expir2") is None, 20, "the token cleaner")
        assert discover(env, "bbbbbb")


def test_excluding_the_garbage_collector_keeps_kubeadm_certs(env):
    from kubesim.kubeadm import app, phases
    with controller_manager(env, "--controllers=*,bootstrapsigner,tokencleaner,-garbagecollector"):
        app.upload_certs(env.admin, {"certificatesDir": env.pki}, phases.new_certificate_key(),
                         out_fn=lambda _: None)
        (ref,) = env.admin.get(f"{SECRETS}/kubeadm-certs")["metadata"]["ownerReferences"]
        env.admin.patch(f"{SECRETS}/{ref['name']}",
                        {"data": {"expiration": base64.b64encode(past().encode()).decode()}})
        wait_for(lambda: env.admin.get_or_none(f"{SECRETS}/{ref['name']}") is None, 20, "the proxy token cleaned")
        time.sleep(QUIET)
        assert env.admin.get_or_none(f"{SECRETS}/kubeadm-certs") is not None  # its owner is gone, no collector
    env.admin.delete(f"{SECRETS}/kubeadm-certs")


# --- CSR approval and signing ---------------------------------------------------------------------
def test_csr_approving_excluded_leaves_the_kubelet_csr_pending(env):
    token(env, "cccccc")
    with controller_manager(env, "--controllers=*,bootstrapsigner,tokencleaner,-csrapproving"):
        csr = post_csr(env, bootstrap_client(env, "cccccc"), "system:node:kf-n2")
        wait_for(lambda: "cccccc" in signatures(env), 20, "a pass of this controller manager")
        time.sleep(QUIET)
        assert csr_state(env, csr) == ([], None)  # Pending: the kubelet's TLS bootstrap would wait here
        out = run_kubectl(env.admin_conf, "get", "csr", csr).stdout.splitlines()[1].split()
        assert out[-1] == "Pending"
        run_kubectl(env.admin_conf, "certificate", "approve", csr)  # an administrator approves by hand
        wait_for(lambda: csr_state(env, csr)[1], 20, "the manually approved CSR to be signed")
        assert csr_state(env, csr)[0] == ["Approved"]


def test_csr_signing_excluded_or_without_files_approves_but_issues_nothing(env):
    token(env, "dddddd")
    for args, signing in ((["--controllers=*,-csrsigning"], True), ([], False)):
        with controller_manager(env, *args, signing=signing):
            csr = post_csr(env, bootstrap_client(env, "dddddd"), "system:node:kf-n3")
            wait_for(lambda csr=csr: csr_state(env, csr)[0] == ["Approved"], 20, "the approver")
            time.sleep(QUIET)
            assert csr_state(env, csr) == (["Approved"], None)
        if not signing:
            with open(env.kcm_log) as fh:
                assert "Skipping CSR signer controller because no csr cert/key was specified" in fh.read()


def test_csr_approver_follows_kubeadm_bindings_and_signer_validates(env):
    token(env, "eeeeee", groups=OTHER_GROUP)
    other = bootstrap_client(env, "eeeeee")
    n4 = node_client(env, "kf-n4")
    with controller_manager(env, "--controllers=*,bootstrapsigner,tokencleaner"):
        not_bound = post_csr(env, other, "system:node:kf-n5")  # token group without the nodeclient binding
        renewal = post_csr(env, n4, "system:node:kf-n4")  # a node renewing its own certificate: selfnodeclient
        foreign = post_csr(env, n4, "system:node:kf-n6")  # a node asking for another node's name
        wrong_usage = post_csr(env, bootstrap_client(env, "dddddd"), "system:node:kf-n7",
                               usages=("digital signature", "client auth", "server auth"))
        not_a_node = post_csr(env, env.admin, "kf-admin", orgs=())
        wait_for(lambda: csr_state(env, renewal)[1], 20, "the renewal to be issued")
        assert env.admin.get(f"{CSRS}/{renewal}")["status"]["conditions"][0]["message"] == \
            "Auto approving self kubelet client certificate after SubjectAccessReview."
        time.sleep(QUIET)
        for name in (not_bound, foreign, wrong_usage, not_a_node):
            assert csr_state(env, name) == ([], None), name
        # approved by hand, a CSR its signer refuses gets Failed (SignerValidationFailure), not a certificate
        run_kubectl(env.admin_conf, "certificate", "approve", not_a_node)
        wait_for(lambda: "Failed" in csr_state(env, not_a_node)[0], 20, "the signer's validation")
        failed = [x for x in env.admin.get(f"{CSRS}/{not_a_node}")["status"]["conditions"] if x["type"] == "Failed"]
        assert failed[0]["reason"] == "SignerValidationFailure"
        assert failed[0]["message"] == "subject organization is not system:nodes"
        assert csr_state(env, not_a_node)[1] is None


def test_mixed_signing_files_fail_the_csr_signer_only_when_it_runs(env):
    import subprocess
    base = [sys.executable, "-m", "kubesim.controllers", f"--kubeconfig={env.kcm_conf}", "--secure-port=0"]
    mixed = env.signing + [f"--cluster-signing-kubelet-serving-cert-file={env.ca_file}"]
    run_env = dict(os.environ, PYTHONPATH=testenv.KUBESIM_ROOT)
    p = subprocess.run(base + mixed, capture_output=True, text=True, timeout=60, env=run_env)
    assert p.returncode == 1 and "cannot specify default and per controller certs at the same time" in p.stderr
    # with csrsigning excluded the signing files are not looked at: the controller manager keeps running
    p = subprocess.Popen(base + mixed + ["--controllers=*,-csrsigning"], stderr=subprocess.DEVNULL, env=run_env)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            p.wait(3)
    finally:
        testenv.terminate(p)
