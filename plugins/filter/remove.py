# -*- coding: utf-8 -*-
# Copyright: kubeforge maintainers
# Apache License 2.0 (see LICENSE)
"""remove_nodes.yml's plan filter; the logic lives in plugins/module_utils/remove_plan.py (pure, unit tested).

Documentation lives in remove_plan.yml beside this file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.kubeforge.kubeadm.plugins.module_utils.remove_plan import remove_plan as _remove_plan


def remove_plan(hosts, hostvars, node_list, members, health_results, addresses):
    """What to do for each host to remove, and the etcd members left afterwards."""
    if not hasattr(node_list, "get"):
        raise AnsibleFilterError("remove_plan: node_list must be the parsed output of kubectl get nodes -o json")
    return _remove_plan(list(hosts), hostvars, node_list, members, health_results, addresses)


class FilterModule(object):
    """remove_nodes.yml filter of kubeforge.kubeadm."""

    def filters(self):
        return {"remove_plan": remove_plan}
