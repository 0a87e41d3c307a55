# -*- coding: utf-8 -*-
# Copyright: kubeforge maintainers
# Apache License 2.0 (see LICENSE)
"""Network filters used by the validate play: CIDRs, overlap and API endpoints.

Python's ipaddress module only (plugins/module_utils/cluster_model.py): no netaddr needed on the controller.
Documentation of each filter lives in the YAML file of the same name beside this one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubeforge.kubeadm.plugins.module_utils.cluster_model import (
    endpoint_info,
    network_info,
    networks_overlap,
)


def ip_network_info(value):
    """Describe an IP network given as CIDR (or a single address)."""
    return network_info(value)


def ip_networks_overlap(first, second):
    """True when two valid networks share at least one address."""
    return networks_overlap(first, second)


def api_endpoint_info(value, default_port=None):
    """Parse host:port (IPv6 in brackets); default_port applies when the port is omitted."""
    return endpoint_info(value, default_port)


class FilterModule(object):
    """Network filters of kubeforge.kubeadm."""

    def filters(self):
        return {
            "ip_network_info": ip_network_info,
            "ip_networks_overlap": ip_networks_overlap,
            "api_endpoint_info": api_endpoint_info,
        }
