# -*- coding: utf-8 -*-
# Copyright: kubeforge maintainers
# Apache License 2.0 (see LICENSE)
"""The validate play's checks of the inventory's settings that are not the cluster model's (pure functions).

Argument spec results grouped by message, cluster-wide settings that differ between hosts, the Kubernetes
version, each host's containerd source and version, role variables that no role reads, and the download sources
(plain http:// and malformed sha256 pins). Every function returns plain data; the messages name the variable, the bad
value and what is allowed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

_SHA256_PIN = re.compile(r"^([0-9a-fA-F]{64})?$")
_URL_CREDENTIALS = re.compile(r"//[^/@]*@")
_SEMVER = re.compile(r"^[0-9]+[.][0-9]+[.][0-9]+")
_SEMVER_EXACT = re.compile(r"^[0-9]+[.][0-9]+[.][0-9]+$")
# Kubernetes minors from which containerd 2.x is needed.
CONTAINERD_2_FROM = (1, 36, 0)


def _version(text):
    return tuple(int(part) for part in str(text).split("."))


def spec_without_defaults(options):
    """An argument spec's options without ``default`` and ``required`` (only the inventory's values are checked)."""
    return dict((name, dict((key, value) for key, value in (option or {}).items() if key not in ("default", "required")))
                for name, option in (options or {}).items())


def argument_errors_by_host(results):
    """``validate_argument_spec`` loop results -> one ``<error> (hosts: a, b)`` per distinct error, first seen first."""
    found = {}
    order = []
    for result in results or []:
        for error in result.get("argument_errors") or []:
            host = result["item"][0]
            if error not in found:
                found[error] = []
                order.append(error)
            if host not in found[error]:
                found[error].append(host)
    return ["%s (hosts: %s)" % (error, ", ".join(found[error])) for error in order]


def differing_settings(provided, hosts, names, defaults):
    """One problem per cluster-wide setting whose value (the default when unset) differs between hosts."""
    problems = []
    for name in names:
        values = [str((provided.get(host) or {}).get(name, defaults.get(name))) for host in hosts]
        if len(set(values)) > 1:
            problems.append("%s must be the same on every host (set it in group_vars/all), found: %s"
                            % (name, ", ".join("%s=%s" % pair for pair in zip(hosts, values))))
    return problems


def kubernetes_version_problems(version, minors):
    """kubernetes_version must be X.Y.Z of a supported minor."""
    version = str(version)
    if _SEMVER_EXACT.match(version) and ".".join(version.split(".")[0:2]) in minors:
        return []
    return ["kubernetes_version '%s' is not supported: expected X.Y.Z (no leading v) with minor %s (supported range"
            " %s.0 to %s.x)" % (version, " or ".join(minors), minors[0], minors[-1])]


def containerd_problems(provided, hosts, kubernetes_version, minimum, default_version):
    """Each host's containerd source and version against the minimum containerd of kubernetes_version."""
    problems = []
    kubernetes_version = str(kubernetes_version)
    needs_2 = bool(_SEMVER_EXACT.match(kubernetes_version)) and _version(kubernetes_version) >= CONTAINERD_2_FROM
    for host in hosts:
        values = provided.get(host) or {}
        source = values.get("container_runtime_containerd_source", "archive")
        version = str(values.get("container_runtime_containerd_version", default_version))
        if source == "distro" and needs_2:
            problems.append(
                "container_runtime_containerd_source 'distro' on %s gives containerd 1.x on every supported distribution"
                " (Debian 12: 1.6, Debian 13: 1.7, Ubuntu 22.04/24.04: 1.7; none on the RedHat family) but"
                " kubernetes_version '%s' needs containerd >= %s; allowed: archive (upstream release) or docker"
                " (containerd.io)" % (host, kubernetes_version, minimum))
        if source == "archive" and (not _SEMVER_EXACT.match(version) or _version(version) < _version(minimum)):
            problems.append("container_runtime_containerd_version '%s' of %s is not allowed: expected X.Y.Z, at least %s"
                            " (Kubernetes 1.36+ needs containerd 2.x)" % (version, host, minimum))
    return problems


def unknown_settings(hosts, hostvars, prefixes, known):
    """One problem per host that sets a variable with a role's prefix that no role reads (a misspelling)."""
    problems = []
    for host in hosts:
        names = list(hostvars[host])
        unknown = [name for name in names if any(str(name).startswith(prefix) for prefix in prefixes)
                   and name not in known]
        if unknown:
            problems.append("%s sets %s, which no role of kubeforge.kubeadm reads (misspelt?); see the roles'"
                            " meta/argument_specs.yml" % (host, ", ".join(unknown)))
    return problems


def _flag(value):
    """Ansible's ``bool`` filter: true for true, yes, on, 1 (any case) and the number 1."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        value = value.lower()
    return value in ("yes", "on", "1", "true", 1)


class _HostValues(object):
    """One host's variables in ``hostvars``; get() answers the default when the host or the variable is unknown."""

    def __init__(self, hostvars, host):
        self._hostvars, self._host = hostvars, host

    def get(self, name, default):
        try:
            if self._host not in self._hostvars:
                return default
            return self._hostvars[self._host][name]
        except KeyError:
            return default


def _mirror_endpoints(mirrors):
    """(registry, endpoint) of container_runtime_registry_mirrors (registry -> URL or list of URLs)."""
    if not hasattr(mirrors, "items"):
        return []
    found = []
    for registry, endpoints in mirrors.items():
        if isinstance(endpoints, str):
            endpoints = [endpoints]
        elif not endpoints:
            endpoints = []
        elif not isinstance(endpoints, (list, tuple)):
            endpoints = [endpoints]
        found.extend((registry, endpoint) for endpoint in endpoints)
    return found


def _unique(items):
    return [item for index, item in enumerate(items) if item not in items[:index]]


def source_problems(hosts, hostvars, checks):
    """Plain http:// download sources without kubernetes_allow_insecure_http, and malformed sha256 pins, per host.

    ``checks``: ``urls`` (names of URL variables), ``sha256`` (names of checksum pins), and optionally ``own_host`` and
    ``own_values``. A host's values come from ``hostvars``; those of ``own_host`` from ``own_values`` (name -> value, the
    effective values where the check runs, play and role variables included). container_runtime_registry_mirrors'
    endpoints are URLs too. Credentials in a URL (user:password@) are masked.
    Returns ``{insecure, bad_sha256}``, each a list of "name 'value' (host)".
    """
    own_host, own_values = checks.get("own_host"), dict(checks.get("own_values") or {})
    insecure, bad_sha256 = [], []
    for host in hosts or []:
        values = own_values if host == own_host else _HostValues(hostvars, host)
        value = values.get
        if not _flag(value("kubernetes_allow_insecure_http", False)):
            urls = [(name, value(name, "")) for name in checks.get("urls") or []]
            urls += [("container_runtime_registry_mirrors[%s]" % registry, endpoint)
                     for registry, endpoint in _mirror_endpoints(value("container_runtime_registry_mirrors", {}))]
            for name, url in urls:
                if isinstance(url, str) and url.strip().lower().startswith("http://"):
                    insecure.append("%s '%s' (%s)" % (name, _URL_CREDENTIALS.sub("//***@", url.strip()), host))
        for name in checks.get("sha256") or []:
            pin = value(name, "")
            if not (isinstance(pin, str) and _SHA256_PIN.match(pin)):
                bad_sha256.append("%s '%s' (%s)" % (name, pin, host))
    return {"insecure": _unique(insecure), "bad_sha256": _unique(bad_sha256)}
