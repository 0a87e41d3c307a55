# -*- coding: utf-8 -*-
# Copyright: kubeforge maintainers
# Apache License 2.0 (see LICENSE)
"""The validate play's checks of the settings beside the cluster model: argument spec errors by host, cluster-wide
settings that differ, kubernetes_version, containerd per host, misspelt role variables, and the download sources
(roles/kubernetes/tasks/sources.yml).

The logic lives in plugins/module_utils/validation.py (pure, unit tested); documentation of each filter lives in
the YAML file of the same name beside this one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.kubeforge.kubeadm.plugins.module_utils.validation import (
    argument_errors_by_host as _argument_errors_by_host,
    containerd_problems as _containerd_problems,
    differing_settings as _differing_settings,
    kubernetes_version_problems as _kubernetes_version_problems,
    source_problems as _source_problems,
    spec_without_defaults as _spec_without_defaults,
    unknown_settings as _unknown_settings,
)


def _mapping(name, value, what):
    if not hasattr(value, "get"):
        raise AnsibleFilterError("%s: %s must be a mapping, got %s" % (name, what, type(value).__name__))


def spec_without_defaults(options):
    """An argument spec's options without default and required."""
    _mapping("spec_without_defaults", options, "the options")
    return _spec_without_defaults(options)


def argument_errors_by_host(results):
    """validate_argument_spec loop results -> one '<error> (hosts: ...)' per distinct error."""
    return _argument_errors_by_host(results)


def differing_settings(provided, hosts, names, defaults):
    """Cluster-wide settings whose value differs between hosts, one message each."""
    _mapping("differing_settings", provided, "the values by host")
    return _differing_settings(provided, list(hosts), list(names), defaults)


def kubernetes_version_problems(version, minors):
    """kubernetes_version must be X.Y.Z of a supported minor."""
    return _kubernetes_version_problems(version, list(minors))


def containerd_problems(provided, hosts, kubernetes_version, minimum, default_version):
    """Each host's containerd source and version against the minimum containerd of kubernetes_version."""
    _mapping("containerd_problems", provided, "the values by host")
    return _containerd_problems(provided, list(hosts), kubernetes_version, minimum, default_version)


def unknown_settings(hosts, hostvars, prefixes, known):
    """Hosts that set role-prefixed variables no role reads, one message each."""
    return _unknown_settings(list(hosts), hostvars, list(prefixes), set(known))


def source_problems(hosts, hostvars, checks):
    """Plain http:// sources without kubernetes_allow_insecure_http and malformed sha256 pins, per host."""
    if isinstance(hosts, str) or not hasattr(hosts, "__iter__"):
        raise AnsibleFilterError("source_problems: the input must be the list of hosts, got %s" % type(hosts).__name__)
    _mapping("source_problems", checks, "checks")
    if checks.get("own_values") is not None:
        _mapping("source_problems", checks["own_values"], "checks.own_values")
    return _source_problems(list(hosts), hostvars, checks)


class FilterModule(object):
    """Validation filters of kubeforge.kubeadm."""

    def filters(self):
        return {
            "spec_without_defaults": spec_without_defaults,
            "argument_errors_by_host": argument_errors_by_host,
            "differing_settings": differing_settings,
            "kubernetes_version_problems": kubernetes_version_problems,
            "containerd_problems": containerd_problems,
            "unknown_settings": unknown_settings,
            "source_problems": source_problems,
        }
