"""Unit tests: podCIDR allocation, taints/tolerations, DaemonSet eligibility, scheduling,
flags, leader election (against an in-memory Lease store with optimistic concurrency)."""

import datetime
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from kubesim.apiclient import ApiError  # noqa: E402
from kubesim.controllers import flags as F  # noqa: E402
from kubesim.controllers import logic  # noqa: E402
from kubesim.controllers.leader import LeaderElector  # noqa: E402
from kubesim.controllers.manager import enabled_controllers  # noqa: E402
from kubesim.scheduler.core import pick_node  # noqa: E402

CP_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}


def node(name, labels=None, taints=None, pod_cidr=None, created="2026-01-01T00:00:00Z", unschedulable=False):
    base = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
    base.update(labels or {})
    spec = {}
    if taints:
        spec["taints"] = taints
    if pod_cidr:
        spec["podCIDR"] = pod_cidr
        spec["podCIDRs"] = [pod_cidr]
    if unschedulable:
        spec["unschedulable"] = True
    return {"metadata": {"name": name, "labels": base, "creationTimestamp": created}, "spec": spec}


# ------------------------------------------------------------------ podCIDR
def test_pod_cidrs_allocated_in_order_skipping_used():
    nodes = [node("cp1", pod_cidr="10.244.0.0/24", created="1"), node("w1", created="2"),
             node("w2", created="3")]
    plan = logic.plan_pod_cidrs(nodes, ["10.244.0.0/16"], 24)
    assert plan == {"w1": ["10.244.1.0/24"], "w2": ["10.244.2.0/24"]}


def test_pod_cidr_default_mask_and_custom_mask():
    assert logic.plan_pod_cidrs([node("a")], ["192.168.0.0/16"]) == {"a": ["192.168.0.0/24"]}
    plan = logic.plan_pod_cidrs([node("a", created="1"), node("b", created="2")], ["10.10.0.0/16"], 26)
    assert plan == {"a": ["10.10.0.0/26"], "b": ["10.10.0.64/26"]}


def test_pod_cidr_dual_stack():
    plan = logic.plan_pod_cidrs([node("a")], ["10.244.0.0/16", "fd00:10:244::/56"], 24, 64)
    assert plan == {"a": ["10.244.0.0/24", "fd00:10:244::/64"]}


def test_pod_cidr_exhausted_and_bad_mask():
    alloc = logic.CIDRAllocator("10.0.0.0/30", 31)
    alloc.allocate()
    alloc.allocate()
    with pytest.raises(logic.CIDRAllocatorError, match="no remaining CIDRs"):
        alloc.allocate()
    with pytest.raises(logic.CIDRAllocatorError):
        logic.CIDRAllocator("10.244.0.0/16", 8)


def test_pod_cidr_outside_cluster_cidr_is_not_counted():
    nodes = [node("a", pod_cidr="192.168.5.0/24", created="1"), node("b", created="2")]
    assert logic.plan_pod_cidrs(nodes, ["10.244.0.0/16"], 24) == {"b": ["10.244.0.0/24"]}


# -------------------------------------------------------------- tolerations
@pytest.mark.parametrize("tol,taint,ok", [
    ({"operator": "Exists"}, CP_TAINT, True),
    ({"operator": "Exists", "effect": "NoSchedule"}, CP_TAINT, True),
    ({"operator": "Exists", "effect": "NoExecute"}, CP_TAINT, False),
    ({"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}, CP_TAINT, True),
    ({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}, CP_TAINT, True),
    ({"key": "other", "operator": "Exists"}, CP_TAINT, False),
    ({"key": "k", "operator": "Equal", "value": "v"}, {"key": "k", "value": "v", "effect": "NoSchedule"}, True),
    ({"key": "k", "operator": "Equal", "value": "x"}, {"key": "k", "value": "v", "effect": "NoSchedule"}, False),
])
def test_tolerates(tol, taint, ok):
    assert logic.tolerates(tol, taint) is ok


def daemonset(spec):
    return {"metadata": {"name": "ds", "namespace": "kube-system", "uid": "u1", "generation": 1},
            "spec": {"template": {"metadata": {"labels": {"app": "x"}}, "spec": spec}}}


def test_daemonset_control_plane_taint():
    cp = node("cp1", taints=[CP_TAINT])
    worker = node("w1")
    plain = daemonset({"containers": [{"name": "c", "image": "i"}]})
    flannel = daemonset({"containers": [{"name": "c", "image": "i"}],
                         "tolerations": [{"operator": "Exists", "effect": "NoSchedule"}]})
    assert not logic.daemonset_should_run(plain, cp)
    assert logic.daemonset_should_run(plain, worker)
    assert logic.daemonset_should_run(flannel, cp)


def test_daemonset_gets_not_ready_noexecute_toleration_but_not_noschedule():
    not_ready_ns = node("w", taints=[{"key": logic.NOT_READY_TAINT, "effect": "NoSchedule"}])
    not_ready_ne = node("w", taints=[{"key": logic.NOT_READY_TAINT, "effect": "NoExecute"}])
    plain = daemonset({"containers": [{"name": "c", "image": "i"}]})
    assert logic.daemonset_should_run(plain, not_ready_ne)
    assert not logic.daemonset_should_run(plain, not_ready_ns)
    # kube-proxy tolerates everything
    kp = daemonset({"containers": [{"name": "c", "image": "i"}], "tolerations": [{"operator": "Exists"}]})
    assert logic.daemonset_should_run(kp, not_ready_ns)


def test_daemonset_node_selector_and_affinity():
    ds = daemonset({"nodeSelector": {"kubernetes.io/os": "linux"},
                    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchExpressions": [
                            {"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]}]}]}}}})
    assert not logic.daemonset_should_run(ds, node("a"))
    assert logic.daemonset_should_run(ds, node("b", labels={"kubernetes.io/arch": "arm64"}))


def test_daemon_pod_pinned_with_match_fields():
    spec = logic.with_node_affinity({"containers": []}, "w2")
    assert logic.schedule_failure(spec, node("w2")) is None
    assert logic.schedule_failure(spec, node("w1")) == "node(s) didn't match Pod's node affinity/selector"


# ---------------------------------------------------------------- scheduler
def test_scheduler_respects_taints_and_spreads():
    nodes = [node("cp1", taints=[CP_TAINT]), node("w1"), node("w2")]
    pod = {"metadata": {"name": "p"}, "spec": {"containers": []}}
    name, why = pick_node(pod, nodes, {"w1": 3, "w2": 1})
    assert (name, why) == ("w2", None)


def test_scheduler_message_when_nothing_fits():
    nodes = [node("cp1", taints=[CP_TAINT]),
             node("w1", taints=[{"key": logic.NOT_READY_TAINT, "effect": "NoSchedule"}])]
    pod = {"metadata": {"name": "p"}, "spec": {"containers": []}}
    name, why = pick_node(pod, nodes, {})
    assert name is None
    assert why == ("0/2 nodes are available: 1 node(s) had untolerated taint "
                   "{node-role.kubernetes.io/control-plane: }, 1 node(s) had untolerated taint "
                   "{node.kubernetes.io/not-ready: }. preemption: 0/2 nodes are available: "
                   "2 Preemption is not helpful for scheduling.")


def test_scheduler_node_selector_and_unschedulable():
    nodes = [node("w1", unschedulable=True), node("w2", labels={"disk": "ssd"}), node("w3")]
    pod = {"metadata": {"name": "p"}, "spec": {"nodeSelector": {"disk": "ssd"}}}
    assert pick_node(pod, nodes, {})[0] == "w2"
    pod2 = {"metadata": {"name": "p"}, "spec": {}}
    assert pick_node(pod2, [nodes[0]], {})[0] is None


# -------------------------------------------------------------------- flags
def test_flags_parse_and_reject_unknown():
    spec = {"kubeconfig": F.STR, "leader-elect": F.BOOL, "node-cidr-mask-size": F.INT,
            "node-monitor-grace-period": F.DURATION, "controllers": F.LIST}
    opts, pos = F.parse_flags(["--kubeconfig", "/x", "--leader-elect", "--node-cidr-mask-size=25",
                               "--node-monitor-grace-period=1m30s", "--controllers=*,bootstrapsigner"], spec)
    assert opts == {"kubeconfig": "/x", "leader-elect": True, "node-cidr-mask-size": 25,
                    "node-monitor-grace-period": 90.0, "controllers": ["*", "bootstrapsigner"]}
    assert pos == []
    with pytest.raises(F.FlagError, match="unknown flag: --nope"):
        F.parse_flags(["--nope=1"], spec)
    with pytest.raises(F.FlagError, match="flag needs an argument: --kubeconfig"):
        F.parse_flags(["--kubeconfig"], spec)


def test_enabled_controllers():
    assert "bootstrapsigner" not in enabled_controllers(["*"])
    on = enabled_controllers(["*", "-nodeipam"])
    assert "nodeipam" not in on and "daemonset" in on
    assert enabled_controllers(["daemonset"]) == {"daemonset"}


def test_controllers_flag_as_kube_controller_manager():
    """IsControllerEnabled after ApplyTo's alias replacement: defaults, '*', 'name', '-name' (first match
    wins), canonical names and aliases alike; bootstrapsigner/tokencleaner off by default."""
    from kubesim.controllers.manager import DISABLED_BY_DEFAULT, is_enabled, unknown_controllers
    assert DISABLED_BY_DEFAULT == {"bootstrap-signer-controller", "token-cleaner-controller",
                                   "selinux-warning-controller"}
    default = enabled_controllers(None)  # the flag's default is ["*"]
    assert {"csrapproving", "csrsigning", "garbagecollector"} <= default
    assert not {"bootstrapsigner", "tokencleaner"} & default
    kubeadm = enabled_controllers(["*", "bootstrapsigner", "tokencleaner"])  # kubeadm's manifest
    assert {"bootstrapsigner", "tokencleaner", "csrapproving", "csrsigning"} <= kubeadm
    assert enabled_controllers([]) == set()  # --controllers= : nothing
    assert enabled_controllers(["bootstrapsigner"]) == {"bootstrapsigner"}  # no '*': only what is named
    assert "csrsigning" not in enabled_controllers(["*", "-csrsigning"])
    assert "csrsigning" not in enabled_controllers(["*", "-certificatesigningrequest-signing-controller"])
    assert "bootstrapsigner" in enabled_controllers(["*", "bootstrap-signer-controller"])
    assert is_enabled("csrapproving", ["-csrapproving", "*", "csrapproving"]) is False  # first match
    assert is_enabled("csrapproving", ["csrapproving", "-csrapproving"]) is True
    assert is_enabled("tokencleaner", ["*", "-tokencleaner", "tokencleaner"]) is False
    assert unknown_controllers(["*", "-csrsigning", "token-cleaner-controller", "nope", "-bad"]) == ["nope", "bad"]


def test_signer_files_as_start_csr_signing_controller():
    from kubesim.controllers import certificates as C
    assert C.signer_files({}) is None  # "Skipping CSR signer controller because no csr cert/key was specified"
    assert C.signer_files({"cluster-signing-cert-file": "/p/ca.crt"}) is None
    both = C.signer_files({"cluster-signing-cert-file": "/p/ca.crt", "cluster-signing-key-file": "/p/ca.key"})
    assert both == {s: ("/p/ca.crt", "/p/ca.key") for s in C.SIGNERS}
    only = C.signer_files({"cluster-signing-kubelet-client-cert-file": "/k.crt",
                           "cluster-signing-kubelet-client-key-file": "/k.key"})
    assert only == {C.KUBELET_CLIENT: ("/k.crt", "/k.key")}
    with pytest.raises(C.SignerError, match="cannot specify default and per controller certs at the same time"):
        C.signer_files({"cluster-signing-cert-file": "/p/ca.crt", "cluster-signing-key-file": "/p/ca.key",
                        "cluster-signing-kubelet-serving-cert-file": "/s.crt"})


def _csr(cn, orgs=("system:nodes",), dns=(), ips=()):
    import ipaddress
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs] + [
        x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    b = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    sans = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return b.sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())


def test_csr_validation_as_capihelper():
    from kubesim.controllers import certificates as C
    node = _csr("system:node:n1")
    assert C.validate_kubelet_client(node, ["digital signature", "client auth"]) is None
    assert C.validate_kubelet_client(node, ["key encipherment", "digital signature", "client auth"]) is None
    assert C.validate_kubelet_client(node, ["client auth"]) == \
        "usages did not match [client auth digital signature key encipherment]"
    assert C.validate_kubelet_client(node, ["digital signature", "client auth", "server auth"]) is not None
    assert C.validate_kubelet_client(_csr("system:node:n1", orgs=()), ["digital signature", "client auth"]) == \
        "subject organization is not system:nodes"
    assert C.validate_kubelet_client(_csr("n1"), ["digital signature", "client auth"]) == \
        "subject common name does not begin with system:node:"
    assert C.validate_kubelet_client(_csr("system:node:n1", dns=["n1"]), ["digital signature", "client auth"]) == \
        "DNS subjectAltNames are not allowed"
    assert C.validate_kubelet_serving(node, ["digital signature", "server auth"]) == \
        "DNS or IP subjectAltName is required"
    assert C.validate_kubelet_serving(_csr("system:node:n1", ips=["10.0.0.1"]),
                                      ["digital signature", "key encipherment", "server auth"]) is None
    assert C.validate_apiserver_client(node, ["client auth"]) is None
    assert C.validate_apiserver_client(node, ["server auth", "client auth"]) == \
        "invalid usage for client certificate: server auth"
    assert C.validate_apiserver_client(node, ["digital signature"]) == \
        "missing required usage for client certificate: client auth"


def test_bootstrap_signer_token_rules():
    """validateSecretForSigning and GetExpiration."""
    import base64
    import datetime as dt
    from kubesim.controllers import bootstrap as B

    def secret(name, **data):
        return {"metadata": {"name": name}, "type": B.TOKEN_TYPE,
                "data": {k.replace("_", "-"): base64.b64encode(v.encode()).decode() for k, v in data.items()}}
    now = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.timezone.utc)
    ok = dict(token_id="abcdef", token_secret="0123456789abcdef", usage_bootstrap_signing="true")
    assert B.token_for_signing(secret("bootstrap-token-abcdef", **ok), now) == ("abcdef", "0123456789abcdef")
    assert B.token_for_signing(secret("bootstrap-token-abcdeg", **ok), now) is None  # name != token-id
    assert B.token_for_signing(secret("other-abcdef", **ok), now) is None
    assert B.token_for_signing(secret("bootstrap-token-abcdef", **dict(ok, usage_bootstrap_signing="false")),
                               now) is None
    assert B.token_for_signing(secret("bootstrap-token-abcdef", **dict(ok, expiration="2026-12-05T11:59:59Z")),
                               now) is None
    assert B.token_for_signing(secret("bootstrap-token-abcdef", **dict(ok, expiration="2026-12-05T13:00:00+01:00")),
                               now) is None  # 12:00 UTC: expired at "now"
    assert B.token_for_signing(secret("bootstrap-token-abcdef", **dict(ok, expiration="2026-12-05T12:00:01Z")),
                               now) is not None
    assert B.has_expired(secret("bootstrap-token-abcdef", expiration="tomorrow"), now)  # unparseable
    assert not B.has_expired(secret("bootstrap-token-abcdef"), now)  # no expiration


def run_module(module, *args):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(HERE))
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          env=env, timeout=60)


def test_components_reject_unknown_flags_like_cobra():
    res = run_module("kubesim.controllers", "--allocate-node-cidrs=true", "--bogus-flag=1")
    assert res.returncode == 1
    assert res.stderr.startswith("Error: unknown flag: --bogus-flag\n")
    res = run_module("kubesim.scheduler", "--not-a-flag")
    assert res.returncode == 1 and "unknown flag: --not-a-flag" in res.stderr
    res = run_module("kubesim.controllers", "--controllers=*,nosuchcontroller", "--kubeconfig=/x")
    # klog.ErrorS(err, "command failed") of component-base's cli.Run
    assert res.returncode == 1 and \
        '"command failed" err="\\"nosuchcontroller\\" is not in the list of known controllers"' in res.stderr
    res = run_module("kubesim.controllers", "--controllers=*,-nope,csrsigning,bad", "--kubeconfig=/x")
    assert res.returncode == 1 and ('err="[\\"nope\\" is not in the list of known controllers, \\"bad\\" is not '
                                    'in the list of known controllers]"') in res.stderr


# ---------------------------------------------------------- leader election
class FakeLeases:
    """In-memory API for one Lease with resourceVersion checks (409 on a stale update)."""

    def __init__(self):
        self.obj = None
        self.rv = 0

    def get_or_none(self, path):
        import copy
        return copy.deepcopy(self.obj)

    def create(self, path, body):
        if self.obj is not None:
            raise ApiError(409, "AlreadyExists", "exists")
        self.rv += 1
        body["metadata"]["resourceVersion"] = str(self.rv)
        self.obj = body
        return body

    def update(self, path, body):
        if body["metadata"].get("resourceVersion") != self.obj["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", "the object has been modified")
        self.rv += 1
        body["metadata"]["resourceVersion"] = str(self.rv)
        self.obj = body
        return body


def test_leader_election_one_holder_and_takeover_after_expiry():
    api = FakeLeases()
    a = LeaderElector(api, "kube-controller-manager", identity="a", lease_duration=15)
    b = LeaderElector(api, "kube-controller-manager", identity="b", lease_duration=15)
    t0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    assert a.try_acquire_or_renew(t0)
    assert not b.try_acquire_or_renew(t0 + datetime.timedelta(seconds=5))
    assert a.try_acquire_or_renew(t0 + datetime.timedelta(seconds=10))
    assert not b.try_acquire_or_renew(t0 + datetime.timedelta(seconds=20))
    # a stops renewing: b takes over once renewTime + 15s has passed
    assert b.try_acquire_or_renew(t0 + datetime.timedelta(seconds=26))
    assert api.obj["spec"]["holderIdentity"] == "b"
    assert api.obj["spec"]["leaseTransitions"] == 1
    assert not a.try_acquire_or_renew(t0 + datetime.timedelta(seconds=27))


def test_leader_election_race_has_one_winner():
    api = FakeLeases()
    a = LeaderElector(api, "kube-scheduler", identity="a")
    b = LeaderElector(api, "kube-scheduler", identity="b")
    t0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    assert a.try_acquire_or_renew(t0)
    later = t0 + datetime.timedelta(seconds=60)   # expired for both candidates
    stale = api.get_or_none("")
    assert b.try_acquire_or_renew(later)
    # a acts on the stale read: its update conflicts and it does not lead
    api_obj = api.obj
    api.obj = stale
    stale_rv = stale["metadata"]["resourceVersion"]
    api.obj = api_obj
    assert api.obj["metadata"]["resourceVersion"] != stale_rv
    assert not a.try_acquire_or_renew(later)


# ----------------------------------------------------------- endpointslice
class FakeSliceClient:
    """In-memory services, pods and endpointslices for the EndpointSlice controller."""

    def __init__(self, services, pods):
        self.objs = {"/api/v1/services": services, "/api/v1/pods": pods,
                     "/apis/discovery.k8s.io/v1/endpointslices": []}
        self.calls = []

    def list(self, path, label_selector=None, **kw):
        return {"items": list(self.objs[path])}

    def create(self, path, obj):
        self.calls.append(("create", obj["metadata"]["name"]))
        self.objs["/apis/discovery.k8s.io/v1/endpointslices"].append(obj)

    def update(self, path, obj):
        self.calls.append(("update", obj["metadata"]["name"]))
        slices = self.objs["/apis/discovery.k8s.io/v1/endpointslices"]
        slices[:] = [obj if s["metadata"]["name"] == obj["metadata"]["name"] else s for s in slices]

    def delete(self, path, body=None):
        name = path.rsplit("/", 1)[1]
        self.calls.append(("delete", name))
        slices = self.objs["/apis/discovery.k8s.io/v1/endpointslices"]
        slices[:] = [s for s in slices if s["metadata"]["name"] != name]


def web_pod(name, ip, ready=True, app="web", terminating=False):
    meta = {"name": name, "namespace": "default", "uid": f"uid-{name}", "labels": {"app": app}}
    if terminating:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "spec": {"nodeName": "n1", "containers": [
                {"name": "nginx", "ports": [{"name": "http", "containerPort": 8080}]}]},
            "status": {"phase": "Running", "podIP": ip,
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def test_endpointslice_controller_follows_the_selected_pods():
    from kubesim.controllers.manager import ControllerManager
    svc = {"metadata": {"name": "web", "namespace": "default", "uid": "svc-uid"},
           "spec": {"selector": {"app": "web"}, "clusterIP": "10.96.0.20",
                    "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}}
    headless_manual = {"metadata": {"name": "manual", "namespace": "default", "uid": "m"},
                       "spec": {"ports": [{"port": 80}]}}  # no selector: no slice
    pods = [web_pod("a", "10.244.1.2"), web_pod("b", "10.244.2.2", ready=False), web_pod("c", None),
            web_pod("d", "10.244.1.9", terminating=True), web_pod("other", "10.244.1.3", app="db")]
    client = FakeSliceClient([svc, headless_manual], pods)
    cm = ControllerManager(client, controllers=["endpointslice"], leader_elect=False)
    cm.sync_endpointslices()
    [sl] = client.objs["/apis/discovery.k8s.io/v1/endpointslices"]
    assert sl["metadata"]["name"].startswith("web-") and sl["metadata"]["labels"] == {
        "kubernetes.io/service-name": "web", "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
    assert sl["metadata"]["ownerReferences"][0]["uid"] == "svc-uid" and sl["addressType"] == "IPv4"
    assert sl["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert [(e["addresses"], e["conditions"]["ready"], e["targetRef"]["name"]) for e in sl["endpoints"]] == [
        (["10.244.1.2"], True, "a"), (["10.244.2.2"], False, "b")]
    client.calls.clear()
    cm.sync_endpointslices()
    assert client.calls == []  # in sync
    pods[1]["status"]["conditions"][0]["status"] = "True"
    cm.sync_endpointslices()
    assert client.calls == [("update", sl["metadata"]["name"])]
    assert all(e["conditions"]["ready"] for e in client.objs["/apis/discovery.k8s.io/v1/endpointslices"][0]["endpoints"])
    client.objs["/api/v1/services"].remove(svc)
    cm.sync_endpointslices()
    assert client.objs["/apis/discovery.k8s.io/v1/endpointslices"] == []
