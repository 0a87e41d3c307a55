# -*- coding: utf-8 -*-
"""Unit tests for the kubeforge.kubeadm network filters (plugins/filter/network.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.kubeforge.kubeadm.plugins.filter.network import (
    FilterModule,
    api_endpoint_info,
    ip_network_info,
    ip_networks_overlap,
)


def test_filters_registered():
    assert set(FilterModule().filters()) == {"ip_network_info", "ip_networks_overlap", "api_endpoint_info"}


@pytest.mark.parametrize(
    "value, version, network, prefixlen",
    [
        ("10.244.0.0/16", 4, "10.244.0.0/16", 16),
        (" 10.96.0.0/12 ", 4, "10.96.0.0/12", 12),
        ("fd00:10:244::/56", 6, "fd00:10:244::/56", 56),
        ("192.0.2.7", 4, "192.0.2.7/32", 32),
    ],
)
def test_ip_network_info_valid(value, version, network, prefixlen):
    info = ip_network_info(value)
    assert info["valid"] is True
    assert info["error"] == ""
    assert (info["version"], info["network"], info["prefixlen"]) == (version, network, prefixlen)


def test_ip_network_info_marks_single_address():
    assert ip_network_info("192.0.2.7")["is_address"] is True
    assert ip_network_info("192.0.2.0/24")["is_address"] is False
    assert ip_network_info("10.0.0.0/8")["num_addresses"] == 2 ** 24


@pytest.mark.parametrize(
    "value, error",
    [
        ("10.244.0.1/16", "host bits set (the network address is 10.244.0.0/16)"),
        ("10.244.0.0/33", "not an IPv4 or IPv6 network in CIDR notation"),
        ("300.1.0.0/16", "not an IPv4 or IPv6 network in CIDR notation"),
        ("pods", "not an IPv4 or IPv6 network in CIDR notation"),
        ("", "not a non-empty string"),
        (None, "not a non-empty string"),
        (16, "not a non-empty string"),
        (True, "not a non-empty string"),
    ],
)
def test_ip_network_info_invalid(value, error):
    info = ip_network_info(value)
    assert info["valid"] is False
    assert info["error"] == error
    assert info["network"] is None


@pytest.mark.parametrize(
    "first, second, expected",
    [
        ("10.244.0.0/16", "10.96.0.0/12", False),
        ("10.96.0.0/12", "10.100.0.0/16", True),
        ("10.100.0.0/16", "10.96.0.0/12", True),
        ("10.0.0.0/8", "10.0.0.0/8", True),
        ("10.0.0.0/8", "fd00::/8", False),
        ("10.0.0.0/8", "garbage", False),
        ("fd00:1::/64", "fd00::/16", True),
    ],
)
def test_ip_networks_overlap(first, second, expected):
    assert ip_networks_overlap(first, second) is expected


@pytest.mark.parametrize(
    "value, host, port, host_type",
    [
        ("k8s.example.com:6443", "k8s.example.com", 6443, "dns"),
        ("192.0.2.10:443", "192.0.2.10", 443, "ipv4"),
        ("[fd00::10]:6443", "fd00::10", 6443, "ipv6"),
        ("api:8443", "api", 8443, "dns"),
        ("lb.example.com.:6443", "lb.example.com.", 6443, "dns"),
    ],
)
def test_api_endpoint_info_valid(value, host, port, host_type):
    info = api_endpoint_info(value)
    assert info == {"valid": True, "error": "", "host": host, "port": port, "host_type": host_type}


def test_api_endpoint_info_default_port():
    assert api_endpoint_info("10.0.0.1", 6443)["port"] == 6443
    assert api_endpoint_info("[fd00::1]", 6443)["port"] == 6443
    assert api_endpoint_info("10.0.0.1")["error"] == "no port (expected host:port)"


@pytest.mark.parametrize(
    "value, error",
    [
        ("https://k8s.example.com:6443", "a URL or path, not host:port"),
        ("fd00::10:6443", "an IPv6 address must be written in brackets, e.g. [fd00::10:6443]:6443"),
        ("[fd00::10:6443", "unbalanced brackets around an IPv6 address"),
        ("[10.0.0.1]:6443", "10.0.0.1 in brackets is not an IPv6 address"),
        ("k8s.example.com:", "empty port after ':'"),
        ("k8s.example.com:http", "port http is not a number from 1 to 65535"),
        ("k8s.example.com:70000", "port 70000 is not a number from 1 to 65535"),
        ("k8s.example.com:0", "port 0 is not a number from 1 to 65535"),
        ("k8s.example.com:+80", "port +80 is not a number from 1 to 65535"),
        ("bad_host:6443", "bad_host is neither an IP address nor a DNS name"),
        ("-bad.example:6443", "-bad.example is neither an IP address nor a DNS name"),
        ("300.1.2.3:6443", "300.1.2.3 is neither an IP address nor a DNS name"),
        ("", "not a non-empty string"),
        (None, "not a non-empty string"),
    ],
)
def test_api_endpoint_info_invalid(value, error):
    info = api_endpoint_info(value)
    assert info["valid"] is False
    assert info["error"] == error
    assert info["host"] is None
