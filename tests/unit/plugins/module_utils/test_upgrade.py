# -*- coding: utf-8 -*-
"""Unit tests for upgrade.yml's reading of the cluster (plugins/module_utils/upgrade.py, filters in upgrade.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.kubeforge.kubeadm.plugins.module_utils.upgrade import cluster_state, version_step_problem

CONFIG = "apiServer: {}\nkubernetesVersion: v1.36.4\nnetworking:\n  podSubnet: 10.244.0.0/16\n"


def test_cluster_state():
    state = cluster_state(
        ["cp1|v1.36.4|True", "", "w1|v1.36.4|False", "w2|v1.37.1|Unknown"],
        ["cp1|registry.k8s.io/kube-apiserver:v1.36.4", "cp2|localhost:5000/kube-apiserver:v1.37.1"],
        CONFIG, "registry.k8s.io/kube-proxy:v1.36.4")
    assert state == {
        "node_state": {"cp1": "v1.36.4", "w1": "v1.36.4", "w2": "v1.37.1"},
        "not_ready": ["w1", "w2"],
        "apiserver_versions": {"cp1": "v1.36.4", "cp2": "v1.37.1"},
        "config_version": "v1.36.4",
        "kube_proxy_version": "v1.36.4",
    }


def test_cluster_state_without_kube_proxy_or_version():
    state = cluster_state(["cp1|v1.36.4"], [], "networking: {}\n", "")
    assert state["not_ready"] == ["cp1"] and state["config_version"] == "" and state["kube_proxy_version"] == ""


@pytest.mark.parametrize("cluster, target, problem", [
    ("v1.36.4", "v1.36.4", ""),
    ("v1.36.4", "v1.36.9", ""),
    ("v1.36.4", "v1.37.0", ""),
    ("v1.36.4", "v1.36.3", "a downgrade is not supported"),
    ("v1.37.0", "v1.36.9", "a downgrade is not supported"),
    ("v1.35.2", "v1.37.1", "kubeadm upgrades one minor at a time, upgrade to 1.36.x first"),
])
def test_version_step(cluster, target, problem):
    assert version_step_problem(cluster, target) == problem


@given(st.tuples(st.integers(0, 40), st.integers(0, 30)), st.tuples(st.integers(0, 40), st.integers(0, 30)))
def test_version_step_property(here, there):
    """Reachable exactly when the target is not older and its minor is the same or the next one."""
    cluster, target = "v1.%d.%d" % here, "v1.%d.%d" % there
    assert (version_step_problem(cluster, target) == "") == (there >= here and there[0] - here[0] in (0, 1))
