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
    assert res.returncode == 1 and '"nosuchcontroller" is not in the list of known controllers' in res.stderr


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
