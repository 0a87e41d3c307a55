# -*- coding: utf-8 -*-
# Copyright: kubeforge maintainers
# Apache License 2.0 (see LICENSE)
"""The cluster model filter: node addresses, endpoint, load-balancer topology and problems, computed once.

The logic lives in plugins/module_utils/cluster_model.py (pure functions, unit tested); this file only
adapts Ansible's values. Documentation lives in cluster_model.yml beside this file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.kubeforge.kubeadm.plugins.module_utils.cluster_model import cluster_model as _cluster_model


def _is_mapping(value):
    return hasattr(value, "items") and hasattr(value, "get")


def cluster_model(groups, hostvars, settings=None):
    """Compute the cluster model from ``groups``, ``hostvars`` and the cluster-wide settings."""
    if not _is_mapping(groups):
        raise AnsibleFilterError("cluster_model: the input must be the groups mapping, got %s" % type(groups).__name__)
    if settings is not None and not _is_mapping(settings):
        raise AnsibleFilterError("cluster_model: settings must be a mapping, got %s" % type(settings).__name__)
    return _cluster_model(groups, hostvars, dict(settings or {}))


class FilterModule(object):
    """Cluster model filter of kubeforge.kubeadm."""

    def filters(self):
        return {"cluster_model": cluster_model}
