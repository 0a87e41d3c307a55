# -*- coding: utf-8 -*-
# Copyright: kubeforge maintainers
# Apache License 2.0 (see LICENSE)
"""remove_nodes.yml's plan: what to do for each host to remove, and what is left of etcd afterwards.

Pure functions (standard library only). Inputs are what the playbook read on the first control plane (the Node
list, the etcd members and their /health answers), what each host answered (its probe, nodename and kubeadm
state files) and the node addresses of the cluster model (plugins/module_utils/cluster_model.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

# scheme://[userinfo@]host[:port][/path]: the host, IPv6 in brackets.
_URL_NETLOC = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)")


def _get(mapping, key, default=None):
    try:
        value = mapping.get(key, default)
    except AttributeError:
        return default
    return default if value is None else value


def healthy_members(health_results):
    """IDs of the etcd members whose /health answered 200 with {"health": "true"} (text/plain JSON)."""
    healthy = []
    for result in health_results or []:
        if _get(result, "status", 0) != 200:
            continue
        try:
            answer = json.loads(_get(result, "content", "") or "{}")
        except ValueError:
            continue
        if isinstance(answer, dict) and str(answer.get("health", "")).lower() == "true":
            healthy.append(_get(_get(result, "item", {}), "ID"))
    return healthy


def peer_host(member):
    """Host of the member's first peer URL, lower case ('' when it has none), as urlsplit's hostname."""
    urls = _get(member, "peerURLs", []) or [""]
    match = _URL_NETLOC.match(str(urls[0]))
    if not match:
        return ""
    host = match.group(1).rpartition("@")[2]
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    else:
        host = host.partition(":")[0]
    return host.lower()


def _unique(items):
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def remove_plan(hosts, hostvars, node_list, members, health_results, addresses):
    """The plan: ``nodes`` (one entry per host, in order) and ``etcd`` (removed, left, healthy_left member names).

    A host has work when it has a Node object, an etcd member (same name, or its first peer URL on the host's
    address) or kubeadm state; a host that did not answer has no known state.
    """
    node_names = [str(_get(_get(item, "metadata", {}), "name", "")) for item in _get(node_list, "items", [])]
    members = list(members or [])
    healthy = healthy_members(health_results)
    nodes = []
    removed = []
    for host in hosts:
        host_vars = hostvars[host] if host in hostvars else {}
        probe = _get(host_vars, "remove_probe", None)
        reachable = probe is not None and not _get(probe, "failed", False)
        name = str(_get(_get(host_vars, "ansible_facts", {}), "nodename", "") or host).lower()
        address = str(_get(addresses, host, "") or host)
        mine = [member.get("ID") for member in members
                if _get(member, "name", "") == name or peer_host(member) == address]
        state_results = _get(_get(host_vars, "remove_probe_state", {}), "results", [])
        state = reachable and any(_get(_get(result, "stat", {}), "exists", False) for result in state_results)
        work = name in node_names or len(mine) > 0 or state
        if work:
            removed.extend(mine)
        nodes.append({
            "host": host,
            "name": name,
            "reachable": reachable,
            "is_node": name in node_names,
            "members": mine,
            "kubeadm_state": state,
            "work": work,
            "unhealthy_member": any(member not in healthy for member in mine),
        })
    label = dict((member.get("ID"), _get(member, "name", "") or member.get("ID")) for member in members)
    left = _unique(member.get("ID") for member in members if member.get("ID") not in removed)
    return {
        "nodes": nodes,
        "etcd": {
            "removed": sorted(label[member] for member in removed),
            "left": sorted(label[member] for member in left),
            "healthy_left": sorted(label[member] for member in left if member in healthy),
        },
    }
