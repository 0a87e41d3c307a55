# -*- coding: utf-8 -*-
"""The thin filters over plugins/module_utils (to_toml, remove_plan, connected_route, dpkg_installed, apt_python, certificates, upgrade,
validation, source_problems): registration and input refusals. The logic is tested in tests/unit/plugins/module_utils/."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.kubeforge.kubeadm.plugins.filter import certificates, kubeadm_init, packages, remove, routes, toml, upgrade, validation


def test_filters_registered():
    assert toml.FilterModule().filters() == {"to_toml": toml.to_toml}
    assert remove.FilterModule().filters() == {"remove_plan": remove.remove_plan}
    assert routes.FilterModule().filters() == {"connected_route": routes.connected_route}
    assert packages.FilterModule().filters() == {"dpkg_installed": packages.dpkg_installed, "apt_python": packages.apt_python}
    assert set(certificates.FilterModule().filters()) == {"certificates_due", "certificates_table", "foreign_ca_hosts"}
    assert set(upgrade.FilterModule().filters()) == {"upgrade_cluster_state", "upgrade_step_problem"}
    assert set(validation.FilterModule().filters()) == {
        "spec_without_defaults", "argument_errors_by_host", "differing_settings",
        "kubernetes_version_problems", "containerd_problems", "unknown_settings", "source_problems"}


def test_filters_answer():
    assert toml.to_toml({"a": 1}) == "a = 1\n"
    assert routes.connected_route(["10.0.0.0/24 dev eth0 src 10.0.0.5"]) == {"prefix": 24, "dev": "eth0", "src": "10.0.0.5"}
    assert packages.dpkg_installed(["curl installed", "socat not-installed"]) == ["curl"]
    assert packages.apt_python(["python3-apt installed"]) == {"apt": True, "ready": False}
    assert certificates.certificates_due({"certificates": [{"name": "x", "residualTime": 0}]}, 1) == ["x"]
    assert upgrade.upgrade_step_problem("v1.36.1", "v1.36.0") == "a downgrade is not supported"
    assert validation.kubernetes_version_problems("1.37.1", ["1.37"]) == []
    assert validation.source_problems(("w1",), {"w1": {"u": "http://x"}}, {"urls": ["u"]})["insecure"] == ["u 'http://x' (w1)"]


def test_refusals():
    with pytest.raises(Exception, match="^dpkg_installed: expects the lines of dpkg-query"):
        packages.dpkg_installed("python3-apt installed")
    with pytest.raises(Exception, match="^apt_python: expects the lines of dpkg-query"):
        packages.apt_python({"stdout_lines": []})
    with pytest.raises(Exception, match="^to_toml: TOML has no null value"):
        toml.to_toml({"a": None})
    with pytest.raises(Exception, match="^remove_plan: node_list"):
        remove.remove_plan(["w1"], {}, "not parsed", [], [], {})
    with pytest.raises(Exception, match="^certificates_due: expects the parsed output"):
        certificates.certificates_due("text", 30)
    with pytest.raises(Exception, match="^certificates_table: below_days must be a whole number"):
        certificates.certificates_table({}, "soon")
    with pytest.raises(Exception, match="^foreign_ca_hosts: expects a mapping"):
        certificates.foreign_ca_hosts(["w1"], [], "cp1", "/pki/ca.crt")
    with pytest.raises(Exception, match="^upgrade_cluster_state: every line"):
        upgrade.upgrade_cluster_state(["cp1"], [], "", "")
    with pytest.raises(Exception, match="^source_problems: the input must be the list of hosts"):
        validation.source_problems("w1", {}, {})
    with pytest.raises(Exception, match="^source_problems: checks must be a mapping"):
        validation.source_problems(["w1"], {}, ["urls"])
    with pytest.raises(Exception, match="^source_problems: checks.own_values must be a mapping"):
        validation.source_problems(["w1"], {}, {"own_values": "x"})
    with pytest.raises(Exception, match="^spec_without_defaults: the options must be a mapping"):
        validation.spec_without_defaults(["a"])


def test_kubeadm_init_unfinished_filter():
    assert kubeadm_init.FilterModule().filters() == {"kubeadm_init_unfinished": kubeadm_init.kubeadm_init_unfinished}
    assert kubeadm_init.kubeadm_init_unfinished(["Node/cp1 {}"], ["addon", "upload-config", "bootstrap-token"]) == [
        ["mark-control-plane"]]
    for lines, skip in (("Node/cp1", None), (["Node/cp1"], "addon")):
        with pytest.raises(Exception, match="^kubeadm_init_unfinished: .* must be a list"):
            kubeadm_init.kubeadm_init_unfinished(lines, skip)
