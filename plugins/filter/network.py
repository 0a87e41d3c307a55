# -*- coding: utf-8 -*-
# Copyright: kubeforge maintainers
# Apache License 2.0 (see LICENSE)
"""Network filters used by the validate play: CIDRs, overlap and API endpoints.

Python's ipaddress module only: no netaddr needed on the controller.
Documentation of each filter lives in the YAML file of the same name beside this one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

_DNS_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def _text(value):
    if isinstance(value, bool) or not isinstance(value, str):
        return None
    return value.strip()


def ip_network_info(value):
    """Describe an IP network given as CIDR (or a single address)."""
    info = {
        "valid": False,
        "error": "",
        "version": None,
        "network": None,
        "prefixlen": None,
        "num_addresses": 0,
        "is_address": False,
    }
    text = _text(value)
    if not text:
        info["error"] = "not a non-empty string"
        return info
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        if "has host bits set" in str(exc):
            info["error"] = "host bits set (the network address is %s)" % ipaddress.ip_network(text, strict=False)
        else:
            info["error"] = "not an IPv4 or IPv6 network in CIDR notation"
        return info
    info.update(
        valid=True,
        version=net.version,
        network=str(net),
        prefixlen=net.prefixlen,
        num_addresses=net.num_addresses,
        is_address="/" not in text,
    )
    return info


def ip_networks_overlap(first, second):
    """True when two valid networks share at least one address."""
    one = ip_network_info(first)
    two = ip_network_info(second)
    if not (one["valid"] and two["valid"]) or one["version"] != two["version"]:
        return False
    return ipaddress.ip_network(one["network"]).overlaps(ipaddress.ip_network(two["network"]))


def _host_type(host):
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        addr = None
    if addr is not None:
        return "ipv%d" % addr.version
    name = host[:-1] if host.endswith(".") else host
    if 0 < len(name) <= 253 and all(_DNS_LABEL.match(label) for label in name.split(".")):
        if not re.match(r"^[0-9.]+$", name):
            return "dns"
    return None


def api_endpoint_info(value, default_port=None):
    """Parse host:port (IPv6 in brackets); default_port applies when the port is omitted."""
    info = {"valid": False, "error": "", "host": None, "port": None, "host_type": None}
    text = _text(value)
    if not text:
        info["error"] = "not a non-empty string"
        return info
    if "://" in text or "/" in text:
        info["error"] = "a URL or path, not host:port"
        return info
    if text.startswith("["):
        match = re.match(r"^\[([^\]]+)\](?::(.*))?$", text)
        if not match:
            info["error"] = "unbalanced brackets around an IPv6 address"
            return info
        host, port = match.group(1), match.group(2)
        if _host_type(host) != "ipv6":
            info["error"] = "%s in brackets is not an IPv6 address" % host
            return info
    elif text.count(":") > 1:
        info["error"] = "an IPv6 address must be written in brackets, e.g. [%s]:6443" % text
        return info
    else:
        host, _sep, port = text.partition(":")
        if not _sep:
            port = None
        elif port == "":
            info["error"] = "empty port after ':'"
            return info
    host_type = _host_type(host)
    if host_type is None:
        info["error"] = "%s is neither an IP address nor a DNS name" % host
        return info
    if port is None:
        if default_port is None:
            info["error"] = "no port (expected host:port)"
            return info
        port = default_port
    try:
        port_number = int(str(port), 10)
    except ValueError:
        port_number = None
    if port_number is None or not 1 <= port_number <= 65535 or not str(port).isdigit():
        info["error"] = "port %s is not a number from 1 to 65535" % port
        return info
    info.update(valid=True, host=host, port=port_number, host_type=host_type)
    return info


class FilterModule(object):
    """Network filters of kubeforge.kubeadm."""

    def filters(self):
        return {
            "ip_network_info": ip_network_info,
            "ip_networks_overlap": ip_networks_overlap,
            "api_endpoint_info": api_endpoint_info,
        }
