# -*- coding: utf-8 -*-
"""Unit tests for certificates.yml's and reset.yml's readings (plugins/module_utils/certificates.py, filters in pki.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


from ansible_collections.kubeforge.kubeadm.plugins.module_utils.certificates import (
    HEADER,
    certificates_due,
    certificates_table,
    foreign_ca_hosts,
)

DAY = 86400
INFO = {
    "certificates": [
        {"name": "apiserver", "expirationDate": "2027-01-01T00:00:00Z", "residualTime": 20 * DAY + 5, "caName": "ca",
         "externallyManaged": False, "missing": False},
        {"name": "admin.conf", "expirationDate": "2027-12-01T00:00:00Z", "residualTime": 300 * DAY, "caName": "ca",
         "externallyManaged": False, "missing": False},
        {"name": "front-proxy-client", "expirationDate": "", "residualTime": 0, "caName": "front-proxy-ca",
         "externallyManaged": False, "missing": True},
        {"name": "etcd-server", "expirationDate": "2026-12-06T00:00:00Z", "residualTime": DAY, "caName": "etcd-ca",
         "externallyManaged": True, "missing": False},
    ],
    "certificateAuthorities": [
        {"name": "ca", "expirationDate": "2035-01-01T00:00:00Z", "residualTime": 3000 * DAY, "externallyManaged": False,
         "missing": False},
    ],
}


def test_due():
    assert certificates_due(INFO, 30) == ["apiserver"]
    assert certificates_due(INFO, "20") == []  # 20 days and 5 seconds left: not below 20 days
    assert certificates_due(INFO, 365) == ["apiserver", "admin.conf"]
    assert certificates_due({"certificates": []}, 30) == []


def test_table():
    rows = certificates_table(INFO, 30)
    assert rows[0] == HEADER == "CERTIFICATE                EXPIRES               RESIDUAL  AUTHORITY       STATE"
    assert rows[1] == "apiserver                  2027-01-01T00:00:00Z       20d  ca              due"
    assert rows[2].endswith("300d  ca              ok")
    assert rows[3] == "front-proxy-client         -                            -  front-proxy-ca  missing"
    assert rows[4].endswith("external CA")
    assert rows[5] == "ca                         2035-01-01T00:00:00Z     3000d  (authority)     ok"
    assert certificates_table({}, 30) == [HEADER]


def test_no_foreign_host():
    assert foreign_ca_hosts({"cp1": ["sha256:a"], "w1": [], "w2": ["sha256:a"]}, ["sha256:a"], "cp1", "/pki/ca.crt") == {
        "hosts": [], "message": ""}


def test_foreign_hosts_of_another_cluster():
    found = foreign_ca_hosts({"w1": ["sha256:b"], "w2": ["sha256:a"]}, ["sha256:a"], "cp1", "/pki/ca.crt")
    assert found == {"hosts": ["w1"], "message": "w1 (CA sha256:b) is not a member of this cluster: the first control plane"
                                                 " cp1 has the CA sha256:a"}
    two = foreign_ca_hosts({"w1": ["sha256:b"], "w2": ["sha256:c", "sha256:d"]}, ["sha256:a"], "cp1", "/pki/ca.crt")
    assert two["message"].startswith("w1 (CA sha256:b), w2 (CA sha256:c, sha256:d) are not members of this cluster")


def test_foreign_hosts_when_the_first_control_plane_has_no_ca():
    one = foreign_ca_hosts({"w1": ["sha256:b"]}, [], "cp1", "/pki/ca.crt", "file not found")
    assert one["message"] == ("w1 (CA sha256:b) holds a cluster CA, but the first control plane cp1 holds none"
                              " (/pki/ca.crt: file not found): which cluster it belongs to cannot be told")
    two = foreign_ca_hosts({"w1": ["sha256:b"], "w2": ["sha256:b"]}, [], "", "/pki/ca.crt")
    assert two["message"].endswith("hold a cluster CA, but the first control plane (none: the control_plane group is empty)"
                                   " holds none (/pki/ca.crt: not read): which cluster they belong to cannot be told")
