# -*- coding: utf-8 -*-
"""Unit tests for the kubeforge.kubeadm workload filters (plugins/filter/workload.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubeforge.kubeadm.plugins.filter.workload import FilterModule, rollout_diagnosis

LABELS = {"app.kubernetes.io/name": "web"}


def pod(name, phase="Pending", node=None, statuses=None, conditions=None, labels=None):
    return {
        "kind": "Pod",
        "metadata": {"name": name, "labels": LABELS if labels is None else labels},
        "spec": {"nodeName": node} if node else {},
        "status": {"phase": phase, "containerStatuses": statuses or [], "conditions": conditions or []},
    }


def event(kind, name, reason, message, when, etype="Warning"):
    return {"kind": "Event", "type": etype, "reason": reason, "message": message, "lastTimestamp": when,
            "involvedObject": {"kind": kind, "name": name}}


def test_filter_registered():
    assert FilterModule().filters() == {"rollout_diagnosis": rollout_diagnosis}


def test_names_deployment_pod_states_and_events():
    items = [
        pod("web-5d9-a", node="worker1", statuses=[{"name": "nginx", "ready": False, "state": {"waiting": {
            "reason": "ErrImagePull", "message": "failed to pull docker.io/library/nginx:1.29-alpine"}}}]),
        pod("web-5d9-b", conditions=[
            {"type": "PodScheduled", "status": "False",
             "message": "0/2 nodes are available: 2 node(s) had untolerated taint"}]),
        pod("other-1", node="worker1", labels={"app": "other"}),
        event("Pod", "web-5d9-a", "Failed", "Error: ErrImagePull", "2026-12-04T10:00:02Z"),
        event("ReplicaSet", "web-5d9", "SuccessfulCreate", "Created pod: web-5d9-a", "2026-12-04T10:00:01Z",
              "Normal"),
        event("Pod", "other-1", "Pulled", "unrelated", "2026-12-04T10:00:03Z", "Normal"),
    ]
    text = rollout_diagnosis({"items": items}, "web", namespace="apps", selector=LABELS)
    assert text.startswith("Deployment apps/web did not become ready.")
    assert "web-5d9-a: Pending on worker1 (nginx ErrImagePull: failed to pull docker.io/library/nginx:1.29-alpine)" in text
    assert "web-5d9-b: Pending (unscheduled: 0/2 nodes are available: 2 node(s) had untolerated taint)" in text
    assert "other-1" not in text and "unrelated" not in text
    # events oldest first: the ReplicaSet's creation, then the pod's failure
    assert text.index("SuccessfulCreate") < text.index("Warning Pod/web-5d9-a: Failed Error: ErrImagePull")


def test_terminated_and_not_ready_containers():
    items = [
        pod("web-1", phase="Running", node="cp1", statuses=[
            {"name": "nginx", "ready": False, "restartCount": 3, "state": {"running": {}}}]),
        pod("web-2", phase="Running", node="cp1", statuses=[{"name": "nginx", "state": {"terminated": {
            "reason": "Error", "exitCode": 137}}}]),
    ]
    text = rollout_diagnosis({"items": items}, "web", selector=LABELS)
    assert "web-1: Running on cp1 (nginx running, not ready (restarts 3))" in text
    assert "web-2: Running on cp1 (nginx terminated (Error, exit code 137))" in text
    assert text.endswith("Events: none recorded.")


def test_no_pods_and_empty_input():
    assert "Pods: none" in rollout_diagnosis({}, "web")
    assert "Pods: none" in rollout_diagnosis(None, "web", selector=LABELS)


def test_keeps_only_the_most_recent_events():
    items = [event("Pod", "web-1", "R%d" % i, "m", "2026-12-04T10:00:%02dZ" % i) for i in range(20)]
    items.append(pod("web-1"))
    text = rollout_diagnosis({"items": items}, "web", selector=LABELS, max_events=3)
    assert "R17" in text and "R19" in text and "R16" not in text
