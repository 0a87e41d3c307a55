# -*- coding: utf-8 -*-
# Copyright: kubeforge maintainers
# Apache License 2.0 (see LICENSE)
"""Route filter of the loadbalancer role: the virtual IP's directly connected network.

The logic lives in plugins/module_utils/cluster_model.py (connected_route, unit and property tested);
documentation in connected_route.yml beside this file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubeforge.kubeadm.plugins.module_utils.cluster_model import connected_route as _connected_route


def connected_route(lines):
    """The most specific directly connected route among `ip -o route` lines: {prefix, dev, src}."""
    return _connected_route(lines)


class FilterModule(object):
    """Route filter of kubeforge.kubeadm."""

    def filters(self):
        return {"connected_route": connected_route}
