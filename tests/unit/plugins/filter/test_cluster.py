# -*- coding: utf-8 -*-
"""Unit tests of the kubeforge.kubeadm.cluster_model filter (plugins/filter/cluster.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.kubeforge.kubeadm.plugins.filter.cluster import FilterModule, cluster_model


def test_filter_registered():
    assert FilterModule().filters() == {"cluster_model": cluster_model}


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
