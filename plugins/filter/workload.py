# -*- coding: utf-8 -*-
# Copyright: kubeforge maintainers
# Apache License 2.0 (see LICENSE)
"""Workload filters: why a Deployment did not become ready, in one sentence an operator can act on.

Input is what ``kubectl get pods,events --output=json`` prints (a v1 List). Documentation of each filter lives in
the YAML file of the same name beside this one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def _pod_state(pod):
    """'Pending (unscheduled: 0/3 nodes are available...)' or 'Running, nginx not ready' style text for one pod."""
    status = pod.get("status") or {}
    phase = status.get("phase") or "Unknown"
    node = (pod.get("spec") or {}).get("nodeName")
    details = []
    if not node:
        for cond in status.get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") != "True":
                details.append("unscheduled: %s" % (cond.get("message") or cond.get("reason") or "no node chosen"))
                break
        else:
            details.append("unscheduled")
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        state = cs.get("state") or {}
        name = cs.get("name", "?")
        if "waiting" in state:
            w = state["waiting"] or {}
            text = w.get("reason") or "waiting"
            if w.get("message"):
                text += ": " + w["message"]
            details.append("%s %s" % (name, text))
        elif "terminated" in state:
            t = state["terminated"] or {}
            details.append("%s terminated (%s, exit code %s)" % (name, t.get("reason") or "?", t.get("exitCode")))
        elif not cs.get("ready"):
            details.append("%s running, not ready (restarts %s)" % (name, cs.get("restartCount", 0)))
    where = (" on %s" % node) if node else ""
    return "%s%s%s" % (phase, where, (" (" + "; ".join(details) + ")") if details else "")


def rollout_diagnosis(value, deployment, namespace="default", selector=None, max_events=10):
    """Describe a Deployment's pods and their recent events from a ``kubectl get pods,events -o json`` List.

    ``selector`` (a dict of labels) picks the Deployment's pods; events are those of the Deployment, its
    ReplicaSets (named ``<deployment>-<hash>``) and its pods, newest last.
    """
    items = (value or {}).get("items") or []
    selector = selector or {}
    pods = [
        i for i in items
        if i.get("kind") == "Pod"
        and all(((i.get("metadata") or {}).get("labels") or {}).get(k) == v for k, v in selector.items())
    ]
    pod_names = set((p.get("metadata") or {}).get("name") for p in pods)
    events = []
    for e in items:
        if e.get("kind") != "Event":
            continue
        obj = e.get("involvedObject") or {}
        name = obj.get("name") or ""
        ours = (
            name in pod_names
            or (obj.get("kind") == "Deployment" and name == deployment)
            or (obj.get("kind") == "ReplicaSet" and name.startswith(deployment + "-"))
        )
        if ours:
            when = e.get("lastTimestamp") or e.get("eventTime") or (e.get("metadata") or {}).get("creationTimestamp") or ""
            message = (e.get("message") or "").strip()
            text = "%s %s/%s: %s %s" % (e.get("type", "Normal"), obj.get("kind", "?"), name, e.get("reason", ""), message)
            events.append((when, text))
    events.sort(key=lambda x: x[0])
    lines = ["Deployment %s/%s did not become ready." % (namespace, deployment)]
    if pods:
        lines.append("Pods: " + "; ".join(
            "%s: %s" % (p["metadata"]["name"], _pod_state(p))
            for p in sorted(pods, key=lambda p: p["metadata"]["name"])))
    else:
        lines.append("Pods: none (the Deployment created no pod: check its ReplicaSet and the controller manager).")
    shown = [text for _when, text in events][-int(max_events):] if events else []
    lines.append(("Events: " + " | ".join(shown)) if shown else "Events: none recorded.")
    return " ".join(lines)


class FilterModule(object):
    def filters(self):
        return {"rollout_diagnosis": rollout_diagnosis}
