"""kube-controller-manager stand-in: level-triggered reconcile passes over the real API.

Each pass lists what it needs and converges it (controllers in real kube-controller-manager
are informer-driven; a full re-list every second is the simple, equivalent model at this scale).
Only the leader (Lease kube-system/kube-controller-manager) reconciles.

``--controllers`` is honoured as kube-controller-manager does (``is_enabled``): ``*`` = the
on-by-default controllers, ``name``/``-name`` (canonical names or their aliases, first match wins);
bootstrapsigner and tokencleaner are off by default (kubeadm passes
``--controllers=*,bootstrapsigner,tokencleaner``). The bootstrap-token controllers are in
``bootstrap.py``, the CSR approver and signer in ``certificates.py``: the API server stand-in does
none of this, so a cluster without a running controller manager gets no cluster-info signatures,
keeps expired tokens and leaves CSRs Pending, as a real one does.
"""

import copy
import logging
import time

from ..apiclient import ApiError, resource_path
from . import bootstrap, certificates, component, logic
from .leader import LeaderElector, now_micro, utcnow

log = logging.getLogger("kube-controller-manager")

NODES = "/api/v1/nodes"
PODS = "/api/v1/pods"
NAMESPACES = "/api/v1/namespaces"
DAEMONSETS = "/apis/apps/v1/daemonsets"
DEPLOYMENTS = "/apis/apps/v1/deployments"
REPLICASETS = "/apis/apps/v1/replicasets"
SECRETS = "/api/v1/secrets"
NODE_LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
SERVICES = "/api/v1/services"
ENDPOINTSLICES = "/apis/discovery.k8s.io/v1/endpointslices"
SLICE_MANAGER = "endpointslice-controller.k8s.io"

# kube-controller-manager's controllers (cmd/kube-controller-manager/names, the descriptors of
# app/*.go): canonical name -> (aliases, disabled by default). --controllers takes either form.
DESCRIPTORS = {
    "serviceaccount-token-controller": (("serviceaccount-token",), False),
    "endpoints-controller": (("endpoint",), False),
    "endpointslice-controller": (("endpointslice",), False),
    "endpointslice-mirroring-controller": (("endpointslicemirroring",), False),
    "replicationcontroller-controller": (("replicationcontroller",), False),
    "pod-garbage-collector-controller": (("podgc",), False),
    "resourcequota-controller": (("resourcequota",), False),
    "namespace-controller": (("namespace",), False),
    "serviceaccount-controller": (("serviceaccount",), False),
    "garbage-collector-controller": (("garbagecollector",), False),
    "daemonset-controller": (("daemonset",), False),
    "job-controller": (("job",), False),
    "deployment-controller": (("deployment",), False),
    "replicaset-controller": (("replicaset",), False),
    "horizontal-pod-autoscaler-controller": (("horizontalpodautoscaling",), False),
    "disruption-controller": (("disruption",), False),
    "statefulset-controller": (("statefulset",), False),
    "cronjob-controller": (("cronjob",), False),
    "certificatesigningrequest-signing-controller": (("csrsigning",), False),
    "certificatesigningrequest-approving-controller": (("csrapproving",), False),
    "certificatesigningrequest-cleaner-controller": (("csrcleaner",), False),
    "ttl-controller": (("ttl",), False),
    "bootstrap-signer-controller": (("bootstrapsigner",), True),
    "token-cleaner-controller": (("tokencleaner",), True),
    "node-ipam-controller": (("nodeipam",), False),
    "node-lifecycle-controller": (("nodelifecycle",), False),
    "taint-eviction-controller": ((), False),
    "service-lb-controller": (("service",), False),
    "node-route-controller": (("route",), False),
    "cloud-node-lifecycle-controller": (("cloud-node-lifecycle",), False),
    "persistentvolume-binder-controller": (("persistentvolume-binder",), False),
    "persistentvolume-attach-detach-controller": (("attachdetach",), False),
    "persistentvolume-expander-controller": (("persistentvolume-expander",), False),
    "clusterrole-aggregation-controller": (("clusterrole-aggregation",), False),
    "persistentvolumeclaim-protection-controller": (("pvc-protection",), False),
    "persistentvolume-protection-controller": (("pv-protection",), False),
    "ttl-after-finished-controller": (("ttl-after-finished",), False),
    "root-ca-certificate-publisher-controller": (("root-ca-cert-publisher",), False),
    "kube-apiserver-serving-clustertrustbundle-publisher-controller": ((), False),
    "ephemeral-volume-controller": (("ephemeral-volume",), False),
    "storageversion-garbage-collector-controller": (("storage-version-gc",), False),
    "resourceclaim-controller": (("resource-claim-controller",), False),
    "device-taint-eviction-controller": ((), False),
    "legacy-serviceaccount-token-cleaner-controller": (("legacy-service-account-token-cleaner",), False),
    "validatingadmissionpolicy-status-controller": ((), False),
    "service-cidr-controller": ((), False),
    "storage-version-migrator-controller": ((), False),
    "selinux-warning-controller": ((), True),
    "volumeattributesclass-protection-controller": ((), False),
    "podcertificaterequest-cleaner-controller": ((), False),
}
ALIASES = {alias: name for name, (aliases, _) in DESCRIPTORS.items() for alias in aliases}
DISABLED_BY_DEFAULT = {name for name, (_, off) in DESCRIPTORS.items() if off}

# The controllers this stand-in runs, by the alias it uses internally.
MODELLED = {
    "nodeipam", "nodelifecycle", "daemonset", "deployment", "replicaset", "garbagecollector", "podgc",
    "serviceaccount", "root-ca-cert-publisher", "bootstrapsigner", "tokencleaner", "csrapproving", "csrsigning",
    "endpointslice",
}


def canonical(name):
    return ALIASES.get(name, name)


def unknown_controllers(spec):
    """options Validate: the names in --controllers that are neither a controller nor an alias."""
    bad = []
    for initial in spec or []:
        if initial == "*":
            continue
        name = initial[1:] if initial.startswith("-") else initial
        if canonical(name) not in DESCRIPTORS:
            bad.append(name)
    return bad


def is_enabled(name, spec):
    """controller-manager IsControllerEnabled on the canonical names (aliases replaced as
    GenericControllerManagerConfigurationOptions.ApplyTo does): the first explicit 'name' or
    '-name' decides; otherwise '*' enables what is not disabled by default; nothing without '*'."""
    name = canonical(name)
    star = False
    for item in spec:
        if item == "*":
            star = True
            continue
        negative = item.startswith("-")
        if canonical(item[1:] if negative else item) == name:
            return not negative
    return star and name not in DISABLED_BY_DEFAULT


def enabled_controllers(spec=None):
    """The modelled controllers --controllers enables (default ['*'], kube-controller-manager's
    default; an explicitly empty list enables nothing)."""
    spec = ["*"] if spec is None else list(spec)
    return {alias for alias in MODELLED if is_enabled(alias, spec)}


def owner_ref(obj, kind, api_version):
    return {"apiVersion": api_version, "kind": kind, "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def controlled_by(obj, owner):
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("uid") == owner["metadata"].get("uid"):
            return True
    return False


def pod_ready(pod):
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def is_terminating(obj):
    return bool(obj.get("metadata", {}).get("deletionTimestamp"))


class ControllerManager:
    def __init__(self, client, cluster_cidrs=None, allocate_node_cidrs=False, mask_v4=None,
                 mask_v6=None, node_monitor_grace_period=50.0, controllers=None,
                 root_ca_file=None, leader_elect=True, lease_duration=15.0, identity=None,
                 signing_files=None, signing_duration=certificates.DEFAULT_DURATION):
        self.client = client
        self.cluster_cidrs = cluster_cidrs or []
        self.allocate_node_cidrs = allocate_node_cidrs
        self.mask_v4 = mask_v4
        self.mask_v6 = mask_v6
        self.grace = node_monitor_grace_period
        self.controllers = enabled_controllers(controllers)
        # csrsigning runs only with signing files (startCertificateSigningRequestSigningController);
        # certificates.SignerError when a CA cannot be read, as the controller fails to start
        self.signer = None
        if "csrsigning" in self.controllers:
            if signing_files:
                self.signer = certificates.Signer(client, signing_files, signing_duration)
            else:
                log.info('"Skipping CSR signer controller because no csr cert/key was specified"')
        self.approver = certificates.Approver(client)
        self.root_ca = None
        if root_ca_file:
            with open(root_ca_file, encoding="utf-8") as fh:
                self.root_ca = fh.read()
        self.leader = LeaderElector(client, "kube-controller-manager", identity=identity,
                                    lease_duration=lease_duration, log=log.info) if leader_elect else None
        # node lifecycle: node -> (last observed heartbeat marker, local time it changed)
        self.probes = {}
        self.passes = 0
        # podgc: orphaned pods are deleted after a quarantine, as the real podgc does
        self.orphans = {}
        self.orphan_quarantine = 40.0

    # --------------------------------------------------------------- helpers
    def _items(self, path, **kw):
        return (self.client.list(path, **kw) or {}).get("items") or []

    def _safe(self, name, fn, *args):
        try:
            fn(*args)
        except ApiError as exc:
            log.warning("%s: %s", name, exc)
        except Exception:  # a bug in one controller must not stop the others
            log.exception("%s failed", name)

    def run_forever(self, period=1.0):
        component.leader_loop(self.leader, self.reconcile, period, log, "reconcile pass")

    def reconcile(self, now=None):
        nodes = self._items(NODES)
        if "nodeipam" in self.controllers and self.allocate_node_cidrs and self.cluster_cidrs:
            self._safe("nodeipam", self.sync_pod_cidrs, nodes)
        if "nodelifecycle" in self.controllers:
            self._safe("nodelifecycle", self.sync_node_lifecycle, nodes, now)
        self.passes += 1
        if ("serviceaccount" in self.controllers or "root-ca-cert-publisher" in self.controllers) \
                and self.passes % 10 == 1:
            self._safe("namespaces", self.sync_namespaces)
        nodes = self._items(NODES)
        if "daemonset" in self.controllers:
            self._safe("daemonset", self.sync_daemonsets, nodes)
        if "deployment" in self.controllers:
            self._safe("deployment", self.sync_deployments)
        if "replicaset" in self.controllers:
            self._safe("replicaset", self.sync_replicasets)
        if "endpointslice" in self.controllers:
            self._safe("endpointslice", self.sync_endpointslices)
        if "tokencleaner" in self.controllers:
            self._safe("tokencleaner", bootstrap.clean_tokens, self.client)
        if "bootstrapsigner" in self.controllers:
            self._safe("bootstrapsigner", bootstrap.sign_cluster_info, self.client)
        if "csrapproving" in self.controllers:
            self._safe("csrapproving", self.approver.sync)
        if self.signer is not None:
            self._safe("csrsigning", self.signer.sync)
        if "garbagecollector" in self.controllers:
            self._safe("garbagecollector", self.collect_garbage)
        if "podgc" in self.controllers:
            self._safe("podgc", self.gc_orphan_pods, nodes)

    # ------------------------------------------------------------- node IPAM
    def sync_pod_cidrs(self, nodes):
        plan = logic.plan_pod_cidrs(nodes, self.cluster_cidrs, self.mask_v4, self.mask_v6)
        for name, cidrs in plan.items():
            log.info('"Set node PodCIDR" node="%s" podCIDRs=%s', name, cidrs)
            self.client.patch(f"{NODES}/{name}", {"spec": {"podCIDR": cidrs[0], "podCIDRs": cidrs}})

    # -------------------------------------------------------- node lifecycle
    def sync_node_lifecycle(self, nodes, now=None):
        mono = now.timestamp() if now is not None else time.monotonic()
        now = now or utcnow()
        leases = {l["metadata"]["name"]: l for l in self._items(NODE_LEASES)}
        seen = set()
        for node in nodes:
            name = node["metadata"]["name"]
            seen.add(name)
            ready = logic.node_condition(node, "Ready")
            lease = leases.get(name)
            marker = ((lease or {}).get("spec") or {}).get("renewTime"), (ready or {}).get("lastHeartbeatTime")
            prev = self.probes.get(name)
            if prev is None or prev[0] != marker:
                self.probes[name] = (marker, mono)
                prev = self.probes[name]
            stale = mono - prev[1] > self.grace
            if stale and ready is not None and ready.get("status") != "Unknown":
                self._mark_unknown(node, now)
            elif stale and ready is None:
                self._mark_unknown(node, now)
            self._sync_condition_taints(node)
        for name in list(self.probes):
            if name not in seen:
                del self.probes[name]

    def _mark_unknown(self, node, now):
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        conds = copy.deepcopy((node.get("status") or {}).get("conditions") or [])
        types = [c.get("type") for c in conds]
        for ctype in ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure"):
            if ctype not in types:
                conds.append({"type": ctype, "lastHeartbeatTime": stamp})
        for cond in conds:
            if cond.get("status") == "Unknown":
                continue
            cond["status"] = "Unknown"
            cond["reason"] = "NodeStatusUnknown"
            cond["message"] = "Kubelet stopped posting node status."
            cond["lastTransitionTime"] = stamp
            cond.setdefault("lastHeartbeatTime", stamp)
        log.info('"Node is NotReady: heartbeats stopped" node="%s"', node["metadata"]["name"])
        self.client.patch(f"{NODES}/{node['metadata']['name']}/status",
                          {"status": {"conditions": conds}})
        node.setdefault("status", {})["conditions"] = conds

    def _sync_condition_taints(self, node):
        """TaintNodesByCondition (NoSchedule): not-ready / unreachable follow the Ready condition."""
        ready = logic.node_condition(node, "Ready")
        status = (ready or {}).get("status", "Unknown")
        want = set()
        if status == "False":
            want.add(logic.NOT_READY_TAINT)
        elif status == "Unknown":
            want.add(logic.UNREACHABLE_TAINT)
        taints = list((node.get("spec") or {}).get("taints") or [])
        managed = {logic.NOT_READY_TAINT, logic.UNREACHABLE_TAINT}
        current = {t["key"] for t in taints if t.get("key") in managed and t.get("effect") == "NoSchedule"}
        if current == want:
            return
        new = [t for t in taints if not (t.get("key") in managed and t.get("effect") == "NoSchedule")]
        for key in sorted(want):
            new.append({"key": key, "effect": "NoSchedule"})
        self.client.patch(f"{NODES}/{node['metadata']['name']}", {"spec": {"taints": new or None}})
        node.setdefault("spec", {})["taints"] = new

    # ------------------------------------------------------ namespaces (SA/CA)
    def sync_namespaces(self):
        for ns in self._items(NAMESPACES):
            name = ns["metadata"]["name"]
            if (ns.get("status") or {}).get("phase") == "Terminating" or is_terminating(ns):
                continue
            if "serviceaccount" in self.controllers:
                path = resource_path("v1", "serviceaccounts", name, "default")
                if self.client.get_or_none(path) is None:
                    self._create_quiet(resource_path("v1", "serviceaccounts", name), {
                        "apiVersion": "v1", "kind": "ServiceAccount",
                        "metadata": {"name": "default", "namespace": name}})
            if "root-ca-cert-publisher" in self.controllers and self.root_ca:
                path = resource_path("v1", "configmaps", name, "kube-root-ca.crt")
                cm = self.client.get_or_none(path)
                if cm is None:
                    self._create_quiet(resource_path("v1", "configmaps", name), {
                        "apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "kube-root-ca.crt", "namespace": name,
                                     "annotations": {"kubernetes.io/description": (
                                         "Contains a CA bundle that can be used to verify the "
                                         "kube-apiserver when using internal endpoints such as the "
                                         "internal service IP or kubernetes.default.svc. No other "
                                         "usage is guaranteed across distributions of Kubernetes "
                                         "clusters.")}},
                        "data": {"ca.crt": self.root_ca}})
                elif (cm.get("data") or {}).get("ca.crt") != self.root_ca:
                    self.client.patch(path, {"data": {"ca.crt": self.root_ca}})

    def _create_quiet(self, path, obj):
        try:
            self.client.create(path, obj)
        except ApiError as exc:
            if exc.status != 409:
                raise

    # ------------------------------------------------------------- DaemonSets
    def sync_daemonsets(self, nodes):
        pods = self._items(PODS)
        node_names = {n["metadata"]["name"] for n in nodes}
        for ds in self._items(DAEMONSETS):
            if is_terminating(ds):
                continue
            self._sync_daemonset(ds, nodes, node_names,
                                 [p for p in pods if controlled_by(p, ds)])

    def _sync_daemonset(self, ds, nodes, node_names, pods):
        ns = ds["metadata"]["namespace"]
        gen = ds["metadata"].get("generation") or 1
        template = (ds.get("spec") or {}).get("template") or {}
        thash = logic.template_hash(template)
        by_node = {}
        for pod in pods:
            target = self._daemon_pod_node(pod)
            by_node.setdefault(target, []).append(pod)
        desired = 0
        for node in nodes:
            name = node["metadata"]["name"]
            wants = logic.daemonset_should_run(ds, node)
            existing = [p for p in by_node.get(name, []) if not is_terminating(p)]
            if wants:
                desired += 1
                outdated = [p for p in existing
                            if (p["metadata"].get("labels") or {}).get("controller-revision-hash") != thash]
                for pod in outdated:  # RollingUpdate: replace pods of an older template
                    self._delete_pod(pod)
                current = [p for p in existing if p not in outdated]
                if not current and not outdated:
                    self._create_daemon_pod(ds, name, thash, gen)
                for extra in current[1:]:
                    self._delete_pod(extra)
            else:
                for pod in existing:
                    self._delete_pod(pod)
        for target, plist in by_node.items():
            if target not in node_names:
                for pod in plist:
                    if not is_terminating(pod):
                        self._delete_pod(pod)
        live = [p for p in pods if not is_terminating(p)]
        scheduled = [p for p in live if (p.get("spec") or {}).get("nodeName")
                     or self._daemon_pod_node(p) in node_names]
        ready = [p for p in live if pod_ready(p)]
        updated = [p for p in live
                   if (p["metadata"].get("labels") or {}).get("controller-revision-hash") == thash]
        status = {
            "currentNumberScheduled": min(len(scheduled), desired),
            "desiredNumberScheduled": desired,
            "numberMisscheduled": 0,
            "numberReady": len(ready),
            "numberAvailable": len(ready),
            "numberUnavailable": max(0, desired - len(ready)),
            "updatedNumberScheduled": len(updated),
            "observedGeneration": gen,
        }
        old = ds.get("status") or {}
        if any(old.get(k, 0) != v for k, v in status.items()):
            if not status["numberUnavailable"]:
                status["numberUnavailable"] = None
            self.client.patch(resource_path("apps/v1", "daemonsets", ns, ds["metadata"]["name"], "status"),
                              {"status": status})

    @staticmethod
    def _daemon_pod_node(pod):
        spec = pod.get("spec") or {}
        if spec.get("nodeName"):
            return spec["nodeName"]
        req = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
               .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
        for term in req.get("nodeSelectorTerms") or []:
            for field in term.get("matchFields") or []:
                if field.get("key") == "metadata.name" and field.get("values"):
                    return field["values"][0]
        return None

    def _create_daemon_pod(self, ds, node_name, thash, gen):
        template = copy.deepcopy((ds.get("spec") or {}).get("template") or {})
        meta = template.get("metadata") or {}
        name = f"{ds['metadata']['name']}-{logic.random_suffix()}"
        spec = logic.with_node_affinity(template.get("spec") or {}, node_name)
        spec["tolerations"] = logic.daemon_pod_tolerations(spec)
        labels = dict(meta.get("labels") or {})
        labels["controller-revision-hash"] = thash
        labels["pod-template-generation"] = str(gen)
        pod = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "generateName": f"{ds['metadata']['name']}-",
                         "namespace": ds["metadata"]["namespace"], "labels": labels,
                         "annotations": meta.get("annotations") or {},
                         "ownerReferences": [owner_ref(ds, "DaemonSet", "apps/v1")]},
            "spec": spec,
        }
        log.info('"Creating daemon pod" daemonset="%s/%s" node="%s" pod="%s"',
                 ds["metadata"]["namespace"], ds["metadata"]["name"], node_name, name)
        self.client.create(resource_path("v1", "pods", ds["metadata"]["namespace"]), pod)

    def _delete_pod(self, pod):
        try:
            self.client.delete(resource_path("v1", "pods", pod["metadata"]["namespace"],
                                             pod["metadata"]["name"]))
        except ApiError as exc:
            if exc.status != 404:
                raise

    # ------------------------------------------------------------ Deployments
    def sync_deployments(self):
        replicasets = self._items(REPLICASETS)
        for dep in self._items(DEPLOYMENTS):
            if is_terminating(dep):
                continue
            owned = [rs for rs in replicasets if controlled_by(rs, dep)]
            self._sync_deployment(dep, owned)

    def _sync_deployment(self, dep, owned):
        ns = dep["metadata"]["namespace"]
        spec = dep.get("spec") or {}
        replicas = spec.get("replicas", 1)
        template = copy.deepcopy(spec.get("template") or {})
        thash = logic.template_hash(template)
        new_rs = None
        for rs in owned:
            if (rs["metadata"].get("labels") or {}).get("pod-template-hash") == thash:
                new_rs = rs
        if new_rs is None:
            labels = dict((template.get("metadata") or {}).get("labels") or {})
            labels["pod-template-hash"] = thash
            template.setdefault("metadata", {})["labels"] = labels
            selector = copy.deepcopy(spec.get("selector") or {})
            selector.setdefault("matchLabels", {})["pod-template-hash"] = thash
            rs = {
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": f"{dep['metadata']['name']}-{thash}", "namespace": ns,
                             "labels": labels,
                             "annotations": {"deployment.kubernetes.io/desired-replicas": str(replicas),
                                             "deployment.kubernetes.io/revision": str(len(owned) + 1)},
                             "ownerReferences": [owner_ref(dep, "Deployment", "apps/v1")]},
                "spec": {"replicas": replicas, "selector": selector, "template": template},
            }
            log.info('"Creating ReplicaSet" deployment="%s/%s" replicaset="%s"', ns,
                     dep["metadata"]["name"], rs["metadata"]["name"])
            try:
                new_rs = self.client.create(resource_path("apps/v1", "replicasets", ns), rs)
            except ApiError as exc:
                if exc.status != 409:
                    raise
                new_rs = self.client.get(resource_path("apps/v1", "replicasets", ns, rs["metadata"]["name"]))
        elif (new_rs.get("spec") or {}).get("replicas") != replicas:
            self.client.patch(resource_path("apps/v1", "replicasets", ns, new_rs["metadata"]["name"]),
                              {"spec": {"replicas": replicas}})
        # old ReplicaSets are scaled down once the new one has all its pods available
        # (a simplified rolling update: surge first, then retire the old ones)
        new_status = new_rs.get("status") or {}
        new_available = new_status.get("availableReplicas", 0) or 0
        for rs in owned:
            if rs["metadata"]["uid"] == new_rs["metadata"].get("uid"):
                continue
            if (rs.get("spec") or {}).get("replicas", 0) and (new_available >= replicas or replicas == 0):
                self.client.patch(resource_path("apps/v1", "replicasets", ns, rs["metadata"]["name"]),
                                  {"spec": {"replicas": 0}})
        total = sum(((rs.get("status") or {}).get("replicas") or 0) for rs in owned)
        ready = sum(((rs.get("status") or {}).get("readyReplicas") or 0) for rs in owned)
        available = sum(((rs.get("status") or {}).get("availableReplicas") or 0) for rs in owned)
        updated = new_status.get("replicas", 0) or 0
        stamp = now_micro()[:19] + "Z"
        old = dep.get("status") or {}
        old_conds = {c["type"]: c for c in old.get("conditions") or []}

        def cond(ctype, status, reason, message):
            prev = old_conds.get(ctype)
            same = prev and prev.get("status") == status
            return {"type": ctype, "status": status, "reason": reason, "message": message,
                    "lastUpdateTime": prev.get("lastUpdateTime") if same and prev.get("reason") == reason else stamp,
                    "lastTransitionTime": prev.get("lastTransitionTime") if same else stamp}

        rs_name = new_rs["metadata"]["name"]
        if available >= replicas:
            avail = cond("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        else:
            avail = cond("Available", "False", "MinimumReplicasUnavailable",
                         "Deployment does not have minimum availability.")
        if updated >= replicas and new_available >= replicas:
            prog = cond("Progressing", "True", "NewReplicaSetAvailable",
                        f'ReplicaSet "{rs_name}" has successfully progressed.')
        else:
            prog = cond("Progressing", "True", "ReplicaSetUpdated",
                        f'ReplicaSet "{rs_name}" is progressing.')
        status = {"observedGeneration": dep["metadata"].get("generation") or 1, "replicas": total,
                  "updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": available,
                  "unavailableReplicas": max(0, total - available), "conditions": [avail, prog]}
        compare = {k: old.get(k, 0) for k in status if k != "conditions"}
        changed = any(compare[k] != v for k, v in status.items() if k != "conditions")
        changed = changed or [(c["type"], c["status"], c["reason"]) for c in status["conditions"]] != \
            [(c.get("type"), c.get("status"), c.get("reason")) for c in old.get("conditions") or []]
        if changed:
            for key in ("readyReplicas", "availableReplicas", "unavailableReplicas", "updatedReplicas"):
                if not status[key]:
                    status[key] = None
            self.client.patch(resource_path("apps/v1", "deployments", ns, dep["metadata"]["name"], "status"),
                              {"status": status})

    # ------------------------------------------------------------ ReplicaSets
    def sync_replicasets(self):
        pods = self._items(PODS)
        for rs in self._items(REPLICASETS):
            if is_terminating(rs):
                continue
            owned = [p for p in pods if controlled_by(p, rs)]
            self._sync_replicaset(rs, owned)

    def _sync_replicaset(self, rs, owned):
        ns = rs["metadata"]["namespace"]
        spec = rs.get("spec") or {}
        want = spec.get("replicas", 1)
        live = [p for p in owned if not is_terminating(p)
                and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        if len(live) < want:
            template = copy.deepcopy(spec.get("template") or {})
            meta = template.get("metadata") or {}
            for _ in range(want - len(live)):
                name = f"{rs['metadata']['name']}-{logic.random_suffix()}"
                pod = {"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": name, "generateName": f"{rs['metadata']['name']}-",
                                    "namespace": ns, "labels": dict(meta.get("labels") or {}),
                                    "annotations": meta.get("annotations") or {},
                                    "ownerReferences": [owner_ref(rs, "ReplicaSet", "apps/v1")]},
                       "spec": template.get("spec") or {}}
                self.client.create(resource_path("v1", "pods", ns), pod)
        elif len(live) > want:
            # delete unscheduled / not ready first, as the ReplicaSet controller ranks them
            ranked = sorted(live, key=lambda p: (bool((p.get("spec") or {}).get("nodeName")),
                                                 pod_ready(p)))
            for pod in ranked[:len(live) - want]:
                self._delete_pod(pod)
        ready = len([p for p in live if pod_ready(p)])
        status = {"replicas": min(len(live), max(want, len(live))), "fullyLabeledReplicas": len(live),
                  "readyReplicas": ready, "availableReplicas": ready,
                  "observedGeneration": rs["metadata"].get("generation") or 1}
        old = rs.get("status") or {}
        if any(old.get(k, 0) != v for k, v in status.items()):
            for key in ("readyReplicas", "availableReplicas", "fullyLabeledReplicas"):
                if not status[key]:
                    status[key] = None
            self.client.patch(resource_path("apps/v1", "replicasets", ns, rs["metadata"]["name"], "status"),
                              {"status": status})

    # ------------------------------------------------------ endpointslice
    def sync_endpointslices(self):
        """The EndpointSlice controller for Services with a selector: one IPv4 slice per Service (the controller
        splits at 100 endpoints; a lab never has that many), named <service>-<suffix>, owned by the Service, with
        the pods that have an IP and are not terminating (ready = the pod's Ready condition), ports with the
        targetPort resolved (a name through the pod's container ports). Slices of Services that are gone or lost
        their selector are deleted (the garbage collector's job for owned slices upstream)."""
        services = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in self._items(SERVICES)}
        slices = {}
        for sl in self._items(ENDPOINTSLICES, label_selector=f"endpointslice.kubernetes.io/managed-by={SLICE_MANAGER}"):
            key = (sl["metadata"]["namespace"], (sl["metadata"].get("labels") or {}).get("kubernetes.io/service-name"))
            slices.setdefault(key, []).append(sl)
        pods = self._items(PODS)
        for key, svc in services.items():
            selector = (svc.get("spec") or {}).get("selector")
            if not selector or is_terminating(svc):
                continue
            want = self._slice_for(svc, [p for p in pods if p["metadata"]["namespace"] == key[0]
                                         and logic.label_selector_matches({"matchLabels": selector},
                                                                          p["metadata"].get("labels"))])
            have = slices.pop(key, [])
            if have:
                cur = have[0]
                if (cur.get("endpoints") or []) != want["endpoints"] or (cur.get("ports") or []) != want["ports"]:
                    cur = dict(cur, endpoints=want["endpoints"], ports=want["ports"])
                    self.client.update(resource_path("discovery.k8s.io/v1", "endpointslices", key[0],
                                                     cur["metadata"]["name"]), cur)
                for extra in have[1:]:
                    self._delete_slice(extra)
            else:
                self.client.create(resource_path("discovery.k8s.io/v1", "endpointslices", key[0]), want)
        for gone in slices.values():
            for sl in gone:
                self._delete_slice(sl)

    def _delete_slice(self, sl):
        try:
            self.client.delete(resource_path("discovery.k8s.io/v1", "endpointslices", sl["metadata"]["namespace"],
                                             sl["metadata"]["name"]))
        except ApiError as exc:
            if exc.status != 404:
                raise

    @staticmethod
    def _slice_for(svc, pods):
        spec = svc.get("spec") or {}
        endpoints, ports = [], []
        live = [p for p in pods if (p.get("status") or {}).get("podIP") and not is_terminating(p)
                and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        for sp in spec.get("ports") or []:
            target = sp.get("targetPort", sp.get("port"))
            if isinstance(target, str) and not target.isdigit():
                number = next((cp.get("containerPort") for p in live for c in (p.get("spec") or {}).get("containers")
                               or [] for cp in c.get("ports") or [] if cp.get("name") == target), None)
            else:
                number = int(target)
            port = {"name": sp.get("name", ""), "port": number, "protocol": sp.get("protocol", "TCP")}
            if number is not None:
                ports.append(port)
        for p in sorted(live, key=lambda p: p["status"]["podIP"]):
            ready = pod_ready(p)
            endpoints.append({"addresses": [p["status"]["podIP"]],
                              "conditions": {"ready": ready, "serving": ready, "terminating": False},
                              "nodeName": (p.get("spec") or {}).get("nodeName"),
                              "targetRef": {"kind": "Pod", "namespace": p["metadata"]["namespace"],
                                            "name": p["metadata"]["name"], "uid": p["metadata"]["uid"]}})
        name = svc["metadata"]["name"]
        return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": f"{name}-{logic.random_suffix()}", "generateName": f"{name}-",
                             "namespace": svc["metadata"]["namespace"],
                             "labels": {"kubernetes.io/service-name": name,
                                        "endpointslice.kubernetes.io/managed-by": SLICE_MANAGER},
                             "ownerReferences": [owner_ref(svc, "Service", "v1")]},
                "addressType": "IPv4", "endpoints": endpoints, "ports": ports}

    # ------------------------------------------------------- garbage collector
    def collect_garbage(self):
        owners = {}
        for path in (DAEMONSETS, DEPLOYMENTS, REPLICASETS):
            for obj in self._items(path):
                owners[obj["metadata"]["uid"]] = obj
        owner_paths = {"DaemonSet": "daemonsets", "Deployment": "deployments", "ReplicaSet": "replicasets"}
        for path, api, plural in ((REPLICASETS, "apps/v1", "replicasets"), (PODS, "v1", "pods")):
            for obj in self._items(path):
                refs = obj["metadata"].get("ownerReferences") or []
                known = [r for r in refs if r.get("kind") in owner_paths
                         and r.get("apiVersion", "").startswith("apps/")]
                if not known or len(known) != len(refs):
                    continue
                if any(r.get("uid") in owners for r in known):
                    continue
                # confirm with a live read before deleting (the owner may be brand new)
                ns = obj["metadata"]["namespace"]
                alive = False
                for ref in known:
                    cur = self.client.get_or_none(resource_path("apps/v1", owner_paths[ref["kind"]], ns, ref["name"]))
                    if cur and cur["metadata"].get("uid") == ref.get("uid"):
                        alive = True
                if alive or is_terminating(obj):
                    continue
                log.info('"Deleting object" kind="%s" object="%s/%s" propagationPolicy="Background"',
                         plural, ns, obj["metadata"]["name"])
                try:
                    self.client.delete(resource_path(api, plural, ns, obj["metadata"]["name"]),
                                       {"kind": "DeleteOptions", "apiVersion": "v1",
                                        "propagationPolicy": "Background"})
                except ApiError as exc:
                    if exc.status != 404:
                        raise

        self.collect_secret_garbage()

    def collect_secret_garbage(self):
        """Secrets owned by Secrets: kubeadm's kubeadm-certs is owned by its 2 h proxy bootstrap token
        (copycerts.go getSecretOwnerRef), so it goes when the token cleaner deletes that token."""
        secrets = self._items(SECRETS)
        uids = {obj["metadata"].get("uid") for obj in secrets}
        for obj in secrets:
            refs = obj["metadata"].get("ownerReferences") or []
            if not refs or any(r.get("kind") != "Secret" or r.get("apiVersion") != "v1" for r in refs):
                continue
            if any(r.get("uid") in uids for r in refs) or is_terminating(obj):
                continue
            ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
            alive = False
            for ref in refs:  # confirm with a live read (the owner may be brand new)
                cur = self.client.get_or_none(resource_path("v1", "secrets", ns, ref["name"]))
                if cur and cur["metadata"].get("uid") == ref.get("uid"):
                    alive = True
            if alive:
                continue
            log.info('"Deleting object" kind="secrets" object="%s/%s" propagationPolicy="Background"', ns, name)
            try:
                self.client.delete(resource_path("v1", "secrets", ns, name),
                                   {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"})
            except ApiError as exc:
                if exc.status != 404:
                    raise

    # ------------------------------------------------------------------ podgc
    def gc_orphan_pods(self, nodes):
        names = {n["metadata"]["name"] for n in nodes}
        mono = time.monotonic()
        seen = set()
        for pod in self._items(PODS):
            node = (pod.get("spec") or {}).get("nodeName")
            if node and node not in names:
                uid = pod["metadata"].get("uid")
                seen.add(uid)
                first = self.orphans.setdefault(uid, mono)
                if mono - first < self.orphan_quarantine:
                    continue
                log.info('"Found orphaned Pod assigned to the Node, deleting" pod="%s/%s" node="%s"',
                         pod["metadata"]["namespace"], pod["metadata"]["name"], node)
                try:
                    self.client.delete(resource_path("v1", "pods", pod["metadata"]["namespace"],
                                                     pod["metadata"]["name"]), gracePeriodSeconds=0)
                except ApiError as exc:
                    if exc.status != 404:
                        raise
        for uid in list(self.orphans):
            if uid not in seen:
                del self.orphans[uid]
