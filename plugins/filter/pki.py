# -*- coding: utf-8 -*-
# Copyright: kubeforge maintainers
# Apache License 2.0 (see LICENSE)
"""PKI filters: kubeadm's CA public key hash of certificates read from the nodes (reset.yml's member check).

Runs on the controller with the collection's pure-Python DER reader: no openssl or cryptography on the nodes.
Documentation of each filter lives in the YAML file of the same name beside this one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.kubeforge.kubeadm.plugins.module_utils.kubeadm import ca_cert_hashes as _ca_cert_hashes


def ca_cert_hashes(pem):
    """kubeadm's --discovery-token-ca-cert-hash value (sha256:<hex of the SPKI>) of each certificate in PEM text."""
    try:
        return _ca_cert_hashes(pem)
    except ValueError as exc:
        raise AnsibleFilterError("ca_cert_hashes: %s" % exc)


class FilterModule(object):
    """PKI filters of kubeforge.kubeadm."""

    def filters(self):
        return {"ca_cert_hashes": ca_cert_hashes}
