"""Pure scheduling/controller logic (no I/O), shared by the controllers, scheduler and kubelet.

Semantics follow Kubernetes:
- taints/tolerations: k8s.io/api/core/v1 Toleration.ToleratesTaint
- node selection: nodeSelector + requiredDuringSchedulingIgnoredDuringExecution
  (matchExpressions on labels, matchFields on metadata.name)
- podCIDR allocation: the range allocator (lowest free block of --node-cidr-mask-size)
"""

import hashlib
import ipaddress
import json
import random

CONTROL_PLANE_TAINT = "node-role.kubernetes.io/control-plane"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
NETWORK_UNAVAILABLE_TAINT = "node.kubernetes.io/network-unavailable"

_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand alphabet


def random_suffix(n=5):
    return "".join(random.choice(_SAFE) for _ in range(n))


def template_hash(template):
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    value = int.from_bytes(digest[:8], "big")
    out = []
    for _ in range(10):
        out.append(_SAFE[value % len(_SAFE)])
        value //= len(_SAFE)
    return "".join(out)


# ------------------------------------------------------------------ taints
def tolerates(toleration, taint):
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    operator = toleration.get("operator") or "Equal"
    if key and key != taint.get("key"):
        return False
    if operator == "Exists":
        return True
    if operator == "Equal":
        if not key:
            return False  # empty key with Equal is invalid (API validation rejects it)
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def untolerated_taints(tolerations, taints, effects=("NoSchedule", "NoExecute")):
    out = []
    for taint in taints or []:
        if taint.get("effect") not in effects:
            continue
        if not any(tolerates(t, taint) for t in tolerations or []):
            out.append(taint)
    return out


# --------------------------------------------------------------- selectors
def _match_requirement(req, value_of):
    key, op = req.get("key"), req.get("operator")
    values = req.get("values") or []
    present, value = value_of(key)
    if op == "In":
        return present and value in values
    if op == "NotIn":
        return not present or value not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt"):
        if not present or len(values) != 1:
            return False
        try:
            a, b = int(value), int(values[0])
        except ValueError:
            return False
        return a > b if op == "Gt" else a < b
    return False


def node_selector_term_matches(term, node):
    labels = node.get("metadata", {}).get("labels") or {}
    name = node.get("metadata", {}).get("name")
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False  # an empty term matches nothing
    for req in exprs:
        if not _match_requirement(req, lambda k: (k in labels, labels.get(k))):
            return False
    for req in fields:
        if not _match_requirement(
                req, lambda k: (k == "metadata.name", name if k == "metadata.name" else None)):
            return False
    return True


def pod_matches_node_selection(pod_spec, node):
    """nodeSelector and required node affinity (not taints)."""
    labels = node.get("metadata", {}).get("labels") or {}
    for k, v in (pod_spec.get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return False
    required = (((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if required:
        terms = required.get("nodeSelectorTerms") or []
        if not any(node_selector_term_matches(t, node) for t in terms):
            return False
    return True


def label_selector_matches(selector, labels):
    """metav1.LabelSelector semantics; None/{} selects everything (callers guard)."""
    labels = labels or {}
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for req in selector.get("matchExpressions") or []:
        if not _match_requirement(req, lambda k: (k in labels, labels.get(k))):
            return False
    return True


# ----------------------------------------------------------------- nodes
def node_condition(node, ctype):
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return cond
    return None


def node_is_ready(node):
    cond = node_condition(node, "Ready")
    return bool(cond and cond.get("status") == "True")


def schedule_failure(pod_spec, node):
    """None when the pod fits the node, else a short reason (scheduler predicates)."""
    if (node.get("spec") or {}).get("unschedulable"):
        tol = pod_spec.get("tolerations") or []
        if not any(tolerates(t, {"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"}) for t in tol):
            return "node(s) were unschedulable"
    if not pod_matches_node_selection(pod_spec, node):
        return "node(s) didn't match Pod's node affinity/selector"
    bad = untolerated_taints(pod_spec.get("tolerations"), (node.get("spec") or {}).get("taints"))
    if bad:
        t = bad[0]
        shown = t["key"] + (f"={t['value']}" if t.get("value") else "")
        return f"node(s) had untolerated taint {{{shown}: }}"
    return None


def scheduling_message(pod_spec, nodes):
    """The FailedScheduling message: '0/2 nodes are available: 2 node(s) had ...'."""
    reasons = {}
    for node in nodes:
        why = schedule_failure(pod_spec, node)
        if why:
            reasons[why] = reasons.get(why, 0) + 1
    parts = [f"{n} {why}" for why, n in sorted(reasons.items())]
    msg = f"0/{len(nodes)} nodes are available"
    if parts:
        msg += ": " + ", ".join(parts) + "."
    else:
        msg += "."
    msg += " preemption: 0/%d nodes are available: %d Preemption is not helpful for scheduling." % (
        len(nodes), len(nodes))
    return msg


# DaemonSet pods get these tolerations added by the DaemonSet controller
# (pkg/controller/daemon/util AddOrUpdateDaemonPodTolerations).
def daemon_pod_tolerations(pod_spec):
    tol = list(pod_spec.get("tolerations") or [])
    extra = [
        {"key": NOT_READY_TAINT, "operator": "Exists", "effect": "NoExecute"},
        {"key": UNREACHABLE_TAINT, "operator": "Exists", "effect": "NoExecute"},
        {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
        {"key": UNSCHEDULABLE_TAINT, "operator": "Exists", "effect": "NoSchedule"},
    ]
    if pod_spec.get("hostNetwork"):
        extra.append({"key": NETWORK_UNAVAILABLE_TAINT, "operator": "Exists", "effect": "NoSchedule"})
    for t in extra:
        if t not in tol:
            tol.append(t)
    return tol


def daemonset_should_run(ds, node):
    """Whether the DaemonSet wants a pod on the node (nodeShouldRunDaemonPod)."""
    spec = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
    if not pod_matches_node_selection(spec, node):
        return False
    taints = (node.get("spec") or {}).get("taints") or []
    # NoExecute and NoSchedule taints both keep a new daemon pod away unless tolerated
    return not untolerated_taints(daemon_pod_tolerations(spec), taints)


def with_node_affinity(pod_spec, node_name):
    """Pin a daemon pod to its node the way the DaemonSet controller does (matchFields)."""
    spec = json.loads(json.dumps(pod_spec))
    affinity = spec.setdefault("affinity", {})
    node_aff = affinity.setdefault("nodeAffinity", {})
    node_aff["requiredDuringSchedulingIgnoredDuringExecution"] = {
        "nodeSelectorTerms": [{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": [node_name]}]}]}
    return spec


# --------------------------------------------------------- pod CIDR (IPAM)
class CIDRAllocatorError(Exception):
    pass


class CIDRAllocator:
    """Range allocator: hands out the lowest free /mask block of the cluster CIDR."""

    def __init__(self, cluster_cidr, mask_size=None):
        self.network = ipaddress.ip_network(cluster_cidr, strict=False)
        if mask_size is None:
            mask_size = 24 if self.network.version == 4 else 64
        if mask_size < self.network.prefixlen:
            raise CIDRAllocatorError(
                f"invalid --node-cidr-mask-size {mask_size}: smaller than the cluster CIDR "
                f"{cluster_cidr} mask")
        if mask_size - self.network.prefixlen > 16:
            raise CIDRAllocatorError(
                "specified --node-cidr-mask-size is too big for cluster CIDR "
                f"{cluster_cidr} (max difference 16)")
        self.mask_size = mask_size
        self.used = set()

    def _index(self, cidr):
        net = ipaddress.ip_network(cidr, strict=False)
        if net.version != self.network.version or not net.subnet_of(self.network):
            return None
        if net.prefixlen != self.mask_size:
            return None
        step = 2 ** (net.max_prefixlen - self.mask_size)
        return (int(net.network_address) - int(self.network.network_address)) // step

    def occupy(self, cidr):
        idx = self._index(cidr)
        if idx is not None:
            self.used.add(idx)
        return idx is not None

    def release(self, cidr):
        idx = self._index(cidr)
        if idx is not None:
            self.used.discard(idx)

    def allocate(self):
        total = 2 ** (self.mask_size - self.network.prefixlen)
        step = 2 ** (self.network.max_prefixlen - self.mask_size)
        for idx in range(total):
            if idx not in self.used:
                self.used.add(idx)
                addr = ipaddress.ip_address(int(self.network.network_address) + idx * step)
                return str(ipaddress.ip_network(f"{addr}/{self.mask_size}"))
        raise CIDRAllocatorError("CIDR allocation failed; there are no remaining CIDRs left to allocate in the accepted range")


def plan_pod_cidrs(nodes, cluster_cidrs, mask_v4=None, mask_v6=None):
    """Return {node_name: [cidr, ...]} for nodes lacking spec.podCIDR(s)."""
    allocators = []
    for cidr in cluster_cidrs:
        net = ipaddress.ip_network(cidr, strict=False)
        allocators.append(CIDRAllocator(cidr, mask_v4 if net.version == 4 else mask_v6))
    for node in nodes:
        for cidr in (node.get("spec") or {}).get("podCIDRs") or [
                c for c in [(node.get("spec") or {}).get("podCIDR")] if c]:
            for alloc in allocators:
                if alloc.occupy(cidr):
                    break
    plan = {}
    for node in sorted(nodes, key=lambda n: n["metadata"].get("creationTimestamp") or ""):
        spec = node.get("spec") or {}
        if spec.get("podCIDR") or spec.get("podCIDRs"):
            continue
        plan[node["metadata"]["name"]] = [a.allocate() for a in allocators]
    return plan
