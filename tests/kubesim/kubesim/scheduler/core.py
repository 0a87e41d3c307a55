"""kube-scheduler stand-in: binds pending pods to nodes that fit.

Predicates: spec.unschedulable, nodeSelector, required node affinity (labels and
metadata.name fields), NoSchedule/NoExecute taints vs tolerations. Scoring: fewest pods
bound (spreads replicas). Binding goes through the pods/binding subresource as the real
scheduler does; an unschedulable pod gets PodScheduled=False/Unschedulable with the
real "0/N nodes are available: ..." message, and a FailedScheduling event.
"""

import datetime
import logging

from ..apiclient import ApiError, resource_path
from ..controllers import component, logic
from ..controllers.leader import LeaderElector

log = logging.getLogger("kube-scheduler")


def pick_node(pod, nodes, load):
    """Return (node_name, None) or (None, failure message)."""
    spec = pod.get("spec") or {}
    fits = [n for n in nodes if logic.schedule_failure(spec, n) is None]
    if not fits:
        return None, logic.scheduling_message(spec, nodes)
    fits.sort(key=lambda n: (load.get(n["metadata"]["name"], 0), n["metadata"]["name"]))
    return fits[0]["metadata"]["name"], None


def is_pending_for(pod, scheduler_names):
    spec = pod.get("spec") or {}
    if spec.get("nodeName") or pod.get("metadata", {}).get("deletionTimestamp"):
        return False
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    return (spec.get("schedulerName") or "default-scheduler") in scheduler_names


class Scheduler:
    def __init__(self, client, scheduler_names=("default-scheduler",), leader_elect=True,
                 lease_duration=15.0, identity=None):
        self.client = client
        self.names = set(scheduler_names)
        self.leader = LeaderElector(client, "kube-scheduler", identity=identity,
                                    lease_duration=lease_duration, log=log.info) if leader_elect else None
        self.reported = {}

    def run_forever(self, period=1.0):
        component.leader_loop(self.leader, self.schedule_pass, period, log, "scheduling pass", catch_all=True)

    def schedule_pass(self):
        nodes = (self.client.list("/api/v1/nodes") or {}).get("items") or []
        pods = (self.client.list("/api/v1/pods") or {}).get("items") or []
        load = {}
        for pod in pods:
            node = (pod.get("spec") or {}).get("nodeName")
            if node:
                load[node] = load.get(node, 0) + 1
        bound = []
        for pod in sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp") or ""):
            if not is_pending_for(pod, self.names):
                continue
            name, why = pick_node(pod, nodes, load)
            if name:
                self.bind(pod, name)
                load[name] = load.get(name, 0) + 1
                bound.append((pod["metadata"]["name"], name))
            else:
                self.mark_unschedulable(pod, why)
        return bound

    def bind(self, pod, node_name):
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        body = {"apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": name, "namespace": ns, "uid": pod["metadata"].get("uid")},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node_name}}
        try:
            self.client.create(resource_path("v1", "pods", ns, name, "binding"), body)
        except ApiError as exc:
            if exc.status in (404, 409):
                return
            raise
        log.info('"Successfully bound pod to node" pod="%s/%s" node="%s"', ns, name, node_name)
        self.reported.pop(pod["metadata"].get("uid"), None)
        self._event(pod, "Normal", "Scheduled",
                    f"Successfully assigned {ns}/{name} to {node_name}")

    def mark_unschedulable(self, pod, message):
        uid = pod["metadata"].get("uid")
        if self.reported.get(uid) == message:
            return
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        cond = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": message, "lastProbeTime": None, "lastTransitionTime": stamp}
        conds = [c for c in (pod.get("status") or {}).get("conditions") or []
                 if c.get("type") != "PodScheduled"] + [cond]
        try:
            self.client.patch(resource_path("v1", "pods", ns, name, "status"),
                              {"status": {"phase": "Pending", "conditions": conds}})
        except ApiError as exc:
            if exc.status != 404:
                raise
            return
        self.reported[uid] = message
        self._event(pod, "Warning", "FailedScheduling", message)

    def _event(self, pod, etype, reason, message):
        ns = pod["metadata"]["namespace"]
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        event = {
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": f"{pod['metadata']['name']}.{logic.random_suffix(16)}", "namespace": ns},
            "eventTime": stamp, "reportingController": "default-scheduler",
            "reportingInstance": "default-scheduler-kubesim", "action": "Scheduling",
            "reason": reason, "note": message, "type": etype,
            "regarding": {"kind": "Pod", "namespace": ns, "name": pod["metadata"]["name"],
                          "uid": pod["metadata"].get("uid"), "apiVersion": "v1"},
        }
        try:
            self.client.create(f"/apis/events.k8s.io/v1/namespaces/{ns}/events", event)
        except ApiError:
            pass  # events are best effort, as in the real scheduler
