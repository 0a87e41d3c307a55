# -*- coding: utf-8 -*-
# Copyright: kubeforge maintainers
# Apache License 2.0 (see LICENSE)
"""Certificate filters: the kubeadm certificates due for renewal and their table (certificates.yml), and the hosts
whose cluster CA is another cluster's (reset.yml).

The logic lives in plugins/module_utils/certificates.py (pure, unit tested); documentation of each filter lives
in the YAML file of the same name beside this one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.kubeforge.kubeadm.plugins.module_utils.certificates import (
    certificates_due as _certificates_due,
    certificates_table as _certificates_table,
    foreign_ca_hosts as _foreign_ca_hosts,
)


def _check_info(name, info, below_days):
    if not hasattr(info, "get"):
        raise AnsibleFilterError("%s: expects the parsed output of kubeadm certs check-expiration --output=json" % name)
    try:
        int(below_days)
    except (TypeError, ValueError):
        raise AnsibleFilterError("%s: below_days must be a whole number, got %r" % (name, below_days))


def certificates_due(info, below_days):
    """Names of the kubeadm-managed certificates that expire in less than below_days days."""
    _check_info("certificates_due", info, below_days)
    return _certificates_due(info, below_days)


def certificates_table(info, below_days):
    """Header and one row per certificate and authority: name, expiry, days left, CA, state."""
    _check_info("certificates_table", info, below_days)
    return _certificates_table(info, below_days)


def foreign_ca_hosts(hashes_by_host, cluster_hashes, first_control_plane, ca_cert, read_error=""):
    """The hosts whose CA is not the first control plane's, and the sentence saying so: {hosts, message}."""
    if not hasattr(hashes_by_host, "items"):
        raise AnsibleFilterError("foreign_ca_hosts: expects a mapping of host name to its CA hashes")
    return _foreign_ca_hosts(dict(hashes_by_host), cluster_hashes, first_control_plane, ca_cert, read_error)


class FilterModule(object):
    """Certificate filters of kubeforge.kubeadm."""

    def filters(self):
        return {
            "certificates_due": certificates_due,
            "certificates_table": certificates_table,
            "foreign_ca_hosts": foreign_ca_hosts,
        }
