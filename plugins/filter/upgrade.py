# -*- coding: utf-8 -*-
# Copyright: kubeforge maintainers
# Apache License 2.0 (see LICENSE)
"""upgrade.yml filters; the logic lives in plugins/module_utils/upgrade.py (pure, unit tested).

Documentation of each filter lives in the YAML file of the same name beside this one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.kubeforge.kubeadm.plugins.module_utils.upgrade import cluster_state, version_step_problem


def upgrade_cluster_state(node_lines, apiserver_lines, config_text, kube_proxy_image):
    """What the cluster runs: node versions, NotReady nodes, API server versions, kubeadm-config and kube-proxy."""
    try:
        return cluster_state(node_lines, apiserver_lines, config_text, kube_proxy_image)
    except IndexError:
        raise AnsibleFilterError("upgrade_cluster_state: every line must have the fields name|value(|status)")


def upgrade_step_problem(cluster_version, target):
    """Why target cannot be reached from cluster_version (a downgrade, more than one minor), '' when it can."""
    return version_step_problem(cluster_version, target)


class FilterModule(object):
    """Upgrade filters of kubeforge.kubeadm."""

    def filters(self):
        return {"upgrade_cluster_state": upgrade_cluster_state, "upgrade_step_problem": upgrade_step_problem}
