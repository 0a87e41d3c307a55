# -*- coding: utf-8 -*-
"""Unit tests for the kubeforge.kubeadm PKI filter (plugins/filter/pki.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.kubeforge.kubeadm.plugins.filter.pki import FilterModule, ca_cert_hashes

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "module_utils", "fixtures")
# The pin kubeadm prints for this CA (same value as the module_utils tests).
H1 = "sha256:71257ccd57b9c01017529ce5b2f95543f8ab1eeea5a0138437c2fcaba399160f"


def _pem():
    with open(os.path.join(FIXTURES, "ca-ec-p256.pem")) as f:
        return f.read()


def test_filter_registered():
    assert FilterModule().filters() == {"ca_cert_hashes": ca_cert_hashes}


def test_hash_of_a_ca_as_slurp_gives_it():
    assert ca_cert_hashes(_pem()) == [H1]
    assert ca_cert_hashes(_pem().replace("\n", "\r\n") + "\n") == [H1]


@pytest.mark.parametrize("text", ["", "not a certificate", "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n"])
def test_no_or_broken_certificate_fails_naming_the_filter(text):
    with pytest.raises(AnsibleFilterError, match="^ca_cert_hashes: bad"):
        ca_cert_hashes(text)
