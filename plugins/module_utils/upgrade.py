# -*- coding: utf-8 -*-
# Copyright: kubeforge maintainers
# Apache License 2.0 (see LICENSE)
"""upgrade/check.yml's reading of the cluster: what each node and control plane runs, and whether the target is
one step away. Pure functions (standard library only).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

_CONFIG_VERSION = re.compile(r"^kubernetesVersion: *(v?[0-9][.0-9A-Za-z+-]*)", re.MULTILINE)


def _rows(lines):
    return [str(line).split("|") for line in lines or [] if line]


def _tag(image):
    """The tag of an image reference (the text after the last colon, the whole text without one)."""
    return re.sub(r"^.*:", "", str(image))


def cluster_state(node_lines, apiserver_lines, config_text, kube_proxy_image):
    """What the cluster runs, from ``kubectl get`` outputs (jsonpath lines ``a|b|c``).

    ``node_lines``: name|kubelet version|Ready status; ``apiserver_lines``: node name|kube-apiserver image;
    ``config_text``: kubeadm-config's ClusterConfiguration; ``kube_proxy_image``: kube-proxy's image ('' without it).
    """
    nodes = _rows(node_lines)
    apiservers = _rows(apiserver_lines)
    found = _CONFIG_VERSION.search(str(config_text or ""))
    versions = dict((row[0], _tag(row[1])) for row in apiservers)
    return {
        "node_state": dict((row[0], row[1]) for row in nodes),
        "not_ready": [row[0] for row in nodes if row[2:3] != ["True"]],
        "apiserver_versions": versions,
        "config_version": found.group(1) if found else "",
        "kube_proxy_version": _tag(kube_proxy_image) if kube_proxy_image else "",
    }


def _numbers(version):
    return [int(part) for part in re.findall(r"[0-9]+", str(version))]


def version_step_problem(cluster_version, target):
    """Why ``target`` (vX.Y.Z) cannot be reached from ``cluster_version`` (vX.Y.Z), '' when it can."""
    here, there = _numbers(cluster_version), _numbers(target)
    if there < here:
        return "a downgrade is not supported"
    if there[1] - here[1] not in (0, 1):
        return "kubeadm upgrades one minor at a time, upgrade to 1.%d.x first" % (here[1] + 1)
    return ""
