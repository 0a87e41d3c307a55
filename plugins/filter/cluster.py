# -*- coding: utf-8 -*-
# Copyright: kubeforge maintainers
# Apache License 2.0 (see LICENSE)
"""The cluster model filters: node addresses, endpoint, load-balancer topology and problems, computed once
(cluster_model); which hosts are joined, have to join or are half joined (join_membership).

The logic lives in plugins/module_utils/cluster_model.py (pure functions, unit tested); this file only
adapts Ansible's values. Documentation lives in cluster_model.yml and join_membership.yml beside this file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.kubeforge.kubeadm.plugins.module_utils.cluster_model import cluster_model as _cluster_model
from ansible_collections.kubeforge.kubeadm.plugins.module_utils.cluster_model import membership as _membership


def _is_mapping(value):
    return hasattr(value, "items") and hasattr(value, "get")


def cluster_model(groups, hostvars, settings=None):
    """Compute the cluster model from ``groups``, ``hostvars`` and the cluster-wide settings."""
    if not _is_mapping(groups):
        raise AnsibleFilterError("cluster_model: the input must be the groups mapping, got %s" % type(groups).__name__)
    if settings is not None and not _is_mapping(settings):
        raise AnsibleFilterError("cluster_model: settings must be a mapping, got %s" % type(settings).__name__)
    return _cluster_model(groups, hostvars, dict(settings or {}))


def join_membership(candidates, hostvars, api=None):
    """Sort the hosts that may join into joined, pending, half joined and inconsistent (node states and the API)."""
    if isinstance(candidates, (str, bytes)) or not hasattr(candidates, "__iter__") or _is_mapping(candidates):
        raise AnsibleFilterError("join_membership: the input must be the list of candidate hosts, got %s"
                                 % type(candidates).__name__)
    if api is not None and not _is_mapping(api):
        raise AnsibleFilterError("join_membership: api must be a mapping, got %s" % type(api).__name__)
    return _membership(list(candidates), hostvars, dict(api or {}))


class FilterModule(object):
    """Cluster model filters of kubeforge.kubeadm."""

    def filters(self):
        return {"cluster_model": cluster_model, "join_membership": join_membership}
