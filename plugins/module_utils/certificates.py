# -*- coding: utf-8 -*-
# Copyright: kubeforge maintainers
# Apache License 2.0 (see LICENSE)
"""certificates.yml's reading of ``kubeadm certs check-expiration --output=json``: what is due, and the table.

Pure functions (standard library only).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DAY = 86400
ROW = "%-26s %-20s %9s  %-15s %s"
HEADER = ROW % ("CERTIFICATE", "EXPIRES", "RESIDUAL", "AUTHORITY", "STATE")


def _seconds(certificate):
    try:
        return int(certificate.get("residualTime") or 0)
    except (TypeError, ValueError):
        return 0


def is_due(certificate, below_days):
    """True when a present, kubeadm-managed certificate expires in less than ``below_days`` days."""
    if certificate.get("missing") or certificate.get("externallyManaged"):
        return False
    return _seconds(certificate) < int(below_days) * DAY


def certificates_due(info, below_days):
    """Names of the certificates due for renewal (not the authorities: kubeadm does not renew them)."""
    return [certificate.get("name") for certificate in info.get("certificates") or [] if is_due(certificate, below_days)]


def _state(certificate, below_days):
    if certificate.get("missing"):
        return "missing"
    if certificate.get("externallyManaged"):
        return "external CA"
    return "due" if _seconds(certificate) < int(below_days) * DAY else "ok"


def certificates_table(info, below_days):
    """A header and one fixed-width row per certificate, then per authority: name, expiry, days left, CA, state."""
    rows = [HEADER]
    for certificate in list(info.get("certificates") or []) + list(info.get("certificateAuthorities") or []):
        rows.append(ROW % (
            certificate.get("name"),
            certificate.get("expirationDate") or "-",
            "-" if certificate.get("missing") else "%dd" % (_seconds(certificate) // DAY),
            certificate.get("caName", "(authority)"),
            _state(certificate, below_days),
        ))
    return rows


def foreign_ca_hosts(hashes_by_host, cluster_hashes, first_control_plane, ca_cert, read_error=""):
    """The hosts whose cluster CA is not the first control plane's (reset.yml), and the sentence saying so.

    ``hashes_by_host``: host -> CA hashes of its own CA certificate (empty: no CA, nothing to compare).
    Returns ``{hosts, message}``; the message is empty when no host is foreign.
    """
    cluster_hashes = list(cluster_hashes or [])
    foreign = [host for host, hashes in hashes_by_host.items() if hashes and list(hashes) != cluster_hashes]
    if not foreign:
        return {"hosts": [], "message": ""}
    one = len(foreign) == 1
    listed = ", ".join("%s (CA %s)" % (host, ", ".join(hashes_by_host[host])) for host in foreign)
    if cluster_hashes:
        verdict = "%s of this cluster: the first control plane %s has the CA %s" % (
            "is not a member" if one else "are not members", first_control_plane, ", ".join(cluster_hashes))
    else:
        verdict = "%s a cluster CA, but the first control plane %s holds none (%s: %s): which cluster %s to cannot be told" % (
            "holds" if one else "hold", first_control_plane or "(none: the control_plane group is empty)", ca_cert,
            read_error or "not read", "it belongs" if one else "they belong")
    return {"hosts": foreign, "message": "%s %s" % (listed, verdict)}
