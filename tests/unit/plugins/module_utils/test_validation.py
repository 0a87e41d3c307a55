# -*- coding: utf-8 -*-
"""Unit tests for the validate play's settings checks (plugins/module_utils/validation.py, filters in settings.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.kubeforge.kubeadm.plugins.module_utils.validation import (
    argument_errors_by_host,
    containerd_problems,
    differing_settings,
    kubernetes_version_problems,
    source_problems,
    spec_without_defaults,
    unknown_settings,
)


def test_spec_without_defaults():
    options = {"a": {"type": "int", "default": 1, "required": True, "choices": [1, 2]}, "b": None}
    assert spec_without_defaults(options) == {"a": {"type": "int", "choices": [1, 2]}, "b": {}}
    assert options["a"]["default"] == 1  # the input is left alone


def test_argument_errors_grouped_by_message_first_seen_first():
    results = [
        {"item": ["cp1", {}], "argument_errors": ["x is bad", "y is bad"]},
        {"item": ["cp1", {}]},
        {"item": ["w1", {}], "argument_errors": ["y is bad"]},
        {"item": ["w1", {}], "argument_errors": ["y is bad"]},
    ]
    assert argument_errors_by_host(results) == ["x is bad (hosts: cp1)", "y is bad (hosts: cp1, w1)"]
    assert argument_errors_by_host([]) == []


def test_differing_settings():
    provided = {"cp1": {"kubernetes_version": "1.37.1"}, "w1": {"kubernetes_version": "1.36.4"}, "w2": {}}
    defaults = {"kubernetes_version": "1.37.1", "kubernetes_cni": "flannel"}
    assert differing_settings(provided, ["w1", "cp1", "w2"], ["kubernetes_version", "kubernetes_cni"], defaults) == [
        "kubernetes_version must be the same on every host (set it in group_vars/all), found: w1=1.36.4, cp1=1.37.1, w2=1.37.1"]
    # Values compare as text: true and True are the same setting.
    assert differing_settings({"a": {"x": True}, "b": {"x": "True"}}, ["a", "b"], ["x"], {}) == []


@pytest.mark.parametrize("version", ["1.37.1", "1.36.0", "1.36.12"])
def test_supported_versions(version):
    assert kubernetes_version_problems(version, ["1.36", "1.37"]) == []


@pytest.mark.parametrize("version", ["v1.37.1", "1.35.2", "1.37", "1.37.1-rc.0", "", "1.370.1"])
def test_unsupported_versions(version):
    assert kubernetes_version_problems(version, ["1.36", "1.37"]) == [
        "kubernetes_version '%s' is not supported: expected X.Y.Z (no leading v) with minor 1.36 or 1.37 (supported range"
        " 1.36.0 to 1.37.x)" % version]


def test_containerd_problems():
    provided = {
        "cp1": {},
        "w1": {"container_runtime_containerd_source": "distro"},
        "w2": {"container_runtime_containerd_version": "1.7.27"},
        "w3": {"container_runtime_containerd_version": "2.1"},
        "w4": {"container_runtime_containerd_source": "docker", "container_runtime_containerd_version": "1.7.0"},
    }
    problems = containerd_problems(provided, ["cp1", "w1", "w2", "w3", "w4"], "1.37.1", "2.0.0", "2.1.4")
    assert len(problems) == 3
    assert problems[0].startswith("container_runtime_containerd_source 'distro' on w1 gives containerd 1.x on every"
                                  " supported distribution (Debian 12: 1.6,")
    assert "kubernetes_version '1.37.1' needs containerd >= 2.0.0; allowed: archive" in problems[0]
    assert problems[1] == ("container_runtime_containerd_version '1.7.27' of w2 is not allowed: expected X.Y.Z, at least"
                           " 2.0.0 (Kubernetes 1.36+ needs containerd 2.x)")
    assert problems[2].startswith("container_runtime_containerd_version '2.1' of w3")
    # The role's default too is checked, and an invalid kubernetes_version is left to its own check.
    assert containerd_problems({"cp1": {}}, ["cp1"], "1.37.1", "2.0.0", "1.7.0")[0].startswith(
        "container_runtime_containerd_version '1.7.0' of cp1")
    assert containerd_problems({"w1": provided["w1"]}, ["w1"], "v1.37", "2.0.0", "2.1.4") == []


def test_unknown_settings():
    hostvars = {"cp1": {"prereqs_swap": 1, "prereq_typo": 1, "control_plane_bind_port": 1, "ansible_host": "x"},
                "w1": {"container_runtime_containerd_verison": "2.1.4", "worker_x": 1}}
    known = {"prereqs_swap", "control_plane_bind_port", "worker_x"}
    assert unknown_settings(["cp1", "w1"], hostvars, ["prereqs_", "container_runtime_", "control_plane_", "worker_"], known) == [
        "w1 sets container_runtime_containerd_verison, which no role of kubeforge.kubeadm reads (misspelt?); see the roles'"
        " meta/argument_specs.yml"]


CHECKS = {"urls": ["kubernetes_package_repository", "cni_calico_manifest_url"],
          "sha256": ["container_runtime_containerd_sha256", "cni_calico_manifest_sha256"]}
PIN = "0123456789abcdef" * 4


def test_source_problems_https_and_good_pins_pass():
    hostvars = {"cp1": {"kubernetes_package_repository": "https://pkgs.example.test/core:/stable:",
                        "container_runtime_containerd_sha256": PIN.upper(), "cni_calico_manifest_sha256": ""},
                "w1": {}}
    assert source_problems(["cp1", "w1"], hostvars, CHECKS) == {"insecure": [], "bad_sha256": []}


def test_source_problems_plain_http_per_host_masked_and_once():
    hostvars = {"cp1": {"kubernetes_package_repository": " HTTP://repo.example.test/x ",
                        "cni_calico_manifest_url": "http://user:pw@mirror.example.test/calico.yaml",
                        "container_runtime_registry_mirrors": {"docker.io": ["https://ok.example.test", "http://m1.test"],
                                                               "quay.io": "http://m2.test", "ghcr.io": None}},
                "w1": {"kubernetes_package_repository": "http://repo.example.test/x",
                       "container_runtime_registry_mirrors": "http://not-a-mapping.test"}}
    found = source_problems(["cp1", "w1", "w1"], hostvars, CHECKS)
    assert found["insecure"] == [
        "kubernetes_package_repository 'HTTP://repo.example.test/x' (cp1)",
        "cni_calico_manifest_url 'http://***@mirror.example.test/calico.yaml' (cp1)",
        "container_runtime_registry_mirrors[docker.io] 'http://m1.test' (cp1)",
        "container_runtime_registry_mirrors[quay.io] 'http://m2.test' (cp1)",
        "kubernetes_package_repository 'http://repo.example.test/x' (w1)"]
    assert found["bad_sha256"] == []


@pytest.mark.parametrize("allowed, refused", [(True, False), ("yes", False), ("True", False), (1, False),
                                              (False, True), ("no", True), ("", True), (None, True), (2, True)])
def test_source_problems_opt_in(allowed, refused):
    hostvars = {"w1": {"kubernetes_allow_insecure_http": allowed, "kubernetes_package_repository": "http://r.test"}}
    assert bool(source_problems(["w1"], hostvars, CHECKS)["insecure"]) is refused


@pytest.mark.parametrize("pin, bad", [(PIN, False), ("", False), (PIN[:63], True), (PIN + "0", True),
                                      ("sha256:" + PIN[:57], True), ("g" * 64, True), (None, True), (12, True)])
def test_source_problems_sha256_pins(pin, bad):
    found = source_problems(["w1"], {"w1": {"cni_calico_manifest_sha256": pin}}, CHECKS)["bad_sha256"]
    assert found == (["cni_calico_manifest_sha256 '%s' (w1)" % pin] if bad else [])


def test_source_problems_own_host_reads_its_effective_values():
    hostvars = {"cp1": {"kubernetes_package_repository": "http://inventory.test"}, "w1": {}}
    checks = dict(CHECKS, own_host="cp1", own_values={"kubernetes_package_repository": "https://role-var.test",
                                                      "container_runtime_containerd_sha256": "bad"})
    assert source_problems(["cp1", "w1"], hostvars, checks) == {
        "insecure": [], "bad_sha256": ["container_runtime_containerd_sha256 'bad' (cp1)"]}
    checks["own_values"]["kubernetes_allow_insecure_http"] = True
    checks["own_values"]["kubernetes_package_repository"] = "http://allowed.test"
    assert source_problems(["cp1"], hostvars, checks)["insecure"] == []


def test_source_problems_unknown_host_has_no_values():
    assert source_problems(["ghost"], {}, CHECKS) == {"insecure": [], "bad_sha256": []}
