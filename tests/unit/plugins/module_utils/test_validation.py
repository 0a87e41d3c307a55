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
