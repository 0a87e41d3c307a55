# -*- coding: utf-8 -*-
"""Unit and property tests for the loadbalancer role's route choice (cluster_model.connected_route, filter connected_route)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.kubeforge.kubeadm.plugins.module_utils.cluster_model import connected_route

NONE = {"prefix": -1, "dev": "", "src": ""}


def test_most_specific_connected_route_wins():
    lines = [
        "default via 10.0.0.1 dev eth0 proto dhcp src 10.0.0.5 metric 100",
        "10.0.0.0/16 dev eth1 proto kernel scope link src 10.0.3.4",
        "10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.5",
        "10.0.0.0/24 dev eth2 proto kernel scope link src 10.0.0.9",
    ]
    assert connected_route(lines) == {"prefix": 24, "dev": "eth0", "src": "10.0.0.5"}


def test_host_route_default_route_and_no_source():
    assert connected_route(["10.0.0.7 dev lo scope host"]) == {"prefix": 32, "dev": "lo", "src": ""}
    assert connected_route(["default dev wg0 scope link"]) == {"prefix": 0, "dev": "wg0", "src": ""}


def test_no_connected_route():
    assert connected_route([]) == NONE
    assert connected_route(["default via 192.0.2.1 dev eth0", "", "unreachable 10.0.0.0/8"]) == NONE
    assert connected_route(["10.0.0.0/x dev eth0"]) == NONE


_ROUTE = st.tuples(st.integers(0, 2 ** 32 - 1), st.integers(0, 32), st.integers(0, 9), st.booleans(), st.booleans())


@given(st.lists(_ROUTE, max_size=8))
def test_picks_the_longest_prefix_among_direct_routes(routes):
    """The answer is the first route of the longest prefix without a gateway; routes via a gateway never count."""
    lines = []
    direct = []
    for address, prefix, dev, via, with_src in routes:
        network = ipaddress.IPv4Network((address, prefix), strict=False)
        line = "%s%s dev eth%d proto kernel scope link%s" % (
            network, " via 192.0.2.1" if via else "", dev, " src 10.9.9.%d" % dev if with_src else "")
        lines.append(line)
        if not via:
            direct.append((prefix, "eth%d" % dev, "10.9.9.%d" % dev if with_src else ""))
    best = connected_route(lines)
    if not direct:
        assert best == NONE
        return
    top = max(prefix for prefix, _dev, _src in direct)
    first = [route for route in direct if route[0] == top][0]
    assert (best["prefix"], best["dev"], best["src"]) == first
