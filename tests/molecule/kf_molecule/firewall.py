"""ufw was active before the collection ran: only the documented ports and the cluster networks are let through.

Documented (README, prereqs role): control planes 6443, 2379:2380, 10250, 10257, 10259 (tcp); workers 10250,
10256 (tcp) and the NodePort range 30000:32767 (tcp and udp); flannel 8472/udp on every node; traffic from
the pod network routed from and to (ufw's forward policy is DROP); the pod and service networks get no rule of their
own on the node (pods reach the node ports above, open to every source) — the rules of earlier releases that let
them reach every port are gone.
Written here on purpose, not read from the role, so that a change in the role shows up as a failure.
"""
from __future__ import annotations

import re

from .common import groups_of, run_ok, settings

CONTROL_PLANE = {"allow 6443/tcp", "allow 2379:2380/tcp", "allow 10250/tcp", "allow 10257/tcp", "allow 10259/tcp"}
WORKER = {"allow 10250/tcp", "allow 10256/tcp", "allow 30000:32767/tcp", "allow 30000:32767/udp"}
CNI = {"flannel": {"allow 8472/udp"}, "calico": {"allow 179/tcp", "allow 4789/udp", "allow 5473/tcp"}, "none": set()}


def expected_rules(host) -> set[str]:
    s = settings(host)
    pod = s["kubernetes_pod_subnet"]
    rules = set(CNI[s["kubernetes_cni"]])
    groups = groups_of(host)
    if "control_plane" in groups:
        rules |= CONTROL_PLANE
    if "workers" in groups or "control_plane" not in groups:
        rules |= WORKER
    rules |= {f"route allow from {pod}", f"route allow to {pod}"}
    return rules


def added_rules(host) -> set[str]:
    out = run_ok(host, "ufw", "show", "added")
    rules = set()
    for ln in out.splitlines():
        ln = ln.strip()
        if not ln.startswith("ufw "):
            continue
        ln = re.sub(r"\s+comment\s+'[^']*'$", "", ln[len("ufw "):])
        rules.add(re.sub(r"\s+", " ", ln))
    return rules


def test_ufw_still_active_with_default_deny_incoming(host):
    out = run_ok(host, "ufw", "status", "verbose")
    assert "Status: active" in out, out
    assert re.search(r"Default: deny \(incoming\)", out), out


def test_ufw_has_exactly_the_documented_rules(host):
    got, want = added_rules(host), expected_rules(host)
    assert got == want, f"missing: {sorted(want - got)}; unexpected: {sorted(got - want)}"
