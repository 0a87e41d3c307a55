# -*- coding: utf-8 -*-
"""Unit tests of the kubeforge.kubeadm.cluster_model and join_membership filters (plugins/filter/cluster.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.kubeforge.kubeadm.plugins.filter.cluster import FilterModule, cluster_model, join_membership


def test_filter_registered():
    assert FilterModule().filters() == {"cluster_model": cluster_model, "join_membership": join_membership}


def test_filter_computes_the_model():
    result = cluster_model({"control_plane": ["cp1"], "workers": ["w1"]},
                           {"cp1": {"kubernetes_node_address": "192.0.2.1"}, "w1": {"ansible_host": "192.0.2.2"}},
                           {"kubernetes_pod_subnet": "10.244.0.0/16", "kubernetes_service_subnet": "10.96.0.0/12"})
    assert result["endpoint"]["text"] == "192.0.2.1:6443"
    assert result["nodes"]["w1"]["address"] == "192.0.2.2"
    assert result["problems"] == []


@pytest.mark.parametrize("groups, settings", [(["cp1"], None), ({"control_plane": []}, "x")])
def test_filter_refuses_wrong_types(groups, settings):
    with pytest.raises(AnsibleFilterError):
        cluster_model(groups, {}, settings)


def test_join_membership_sorts_the_candidates():
    state = {"host": "w1", "name": "w1", "address": "192.0.2.2", "control_plane": False, "kubelet_conf": False,
             "manifests_missing": []}
    result = join_membership(("w1", "w2"), {"w1": {"control_plane_node_state": state}, "w2": {}}, {"registered_nodes": ["cp1"]})
    assert result["hosts"] == {"w1": "pending", "w2": "stateless"}


@pytest.mark.parametrize("candidates, api", [("w1", None), ({"w1": 1}, None), (["w1"], ["cp1"])])
def test_join_membership_refuses_wrong_types(candidates, api):
    with pytest.raises(AnsibleFilterError, match="^join_membership: "):
        join_membership(candidates, {}, api)
