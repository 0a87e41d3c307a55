# -*- coding: utf-8 -*-
"""Unit and property tests for the dpkg-query readers of the roles' Debian package tasks
(module_utils/packages.py; filters dpkg_installed, apt_python)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.kubeforge.kubeadm.plugins.module_utils.packages import apt_python, dpkg_installed

STATUSES = ["installed", "not-installed", "config-files", "half-installed", "unpacked", "half-configured"]


def test_installed_from_the_short_format():
    # prereqs' and the shared probe's format: ${Package} ${db:Status-Status}
    lines = ["python3-apt installed", "socat not-installed", "chrony config-files", "iproute2 installed"]
    assert dpkg_installed(lines) == ["python3-apt", "iproute2"]


def test_installed_from_the_pipe_format_with_empty_fields():
    # kube_packages' format: ${Package}|${Version}|${db:Status-Want}|${db:Status-Status}
    lines = [
        "python3-apt|2.6.0|install|installed",
        "python3-debian||unknown|not-installed",
        "kubeadm|1.37.1-1.1|hold|installed",
        "kubelet|1.37.1-1.1|deinstall|config-files",
    ]
    assert dpkg_installed(lines) == ["python3-apt", "kubeadm"]


def test_lines_that_name_no_installed_package():
    assert dpkg_installed([]) == []
    assert dpkg_installed(["", "installed", "   ", "|installed"]) == []
    # the status is the last field, not any field
    assert dpkg_installed(["installed not-installed", "pkg installed extra"]) == []
    # each package once
    assert dpkg_installed(["a installed", "a installed"]) == ["a"]


def test_apt_python():
    assert apt_python([]) == {"apt": False, "ready": False}
    assert apt_python(["python3-apt installed"]) == {"apt": True, "ready": False}
    assert apt_python(["python3-debian installed", "python3-apt not-installed"]) == {"apt": False, "ready": False}
    assert apt_python(["python3-apt installed", "python3-debian installed"]) == {"apt": True, "ready": True}
    assert apt_python(["python3-apt|2.6.0|install|installed", "python3-debian|0.1.49|install|installed",
                       "kubeadm||unknown|not-installed"]) == {"apt": True, "ready": True}
    # a half-installed binding does not count
    assert apt_python(["python3-apt half-installed", "python3-debian installed"]) == {"apt": False, "ready": False}


@pytest.mark.parametrize("value", ["python3-apt installed", None, {"stdout_lines": []}, [1]])
def test_refuses_what_is_not_lines(value):
    with pytest.raises(TypeError, match="expects"):
        dpkg_installed(value)


_NAME = st.from_regex(r"[a-z0-9][a-z0-9+.-]{0,15}", fullmatch=True)
_VERSION = st.one_of(st.just(""), st.from_regex(r"[0-9][0-9a-z.+~-]{0,10}", fullmatch=True))
_PACKAGES = st.dictionaries(_NAME, st.tuples(_VERSION, st.sampled_from(["install", "hold", "unknown"]),
                                             st.sampled_from(STATUSES)), max_size=8)


@given(_PACKAGES, st.booleans())
def test_installed_is_exactly_the_installed_lines_in_either_format(packages, pipe):
    if pipe:
        lines = ["%s|%s|%s|%s" % (name, version, want, status) for name, (version, want, status) in packages.items()]
    else:
        lines = ["%s %s" % (name, status) for name, (version, want, status) in packages.items()]
    expected = [name for name, (version, want, status) in packages.items() if status == "installed"]
    assert dpkg_installed(lines) == expected
    state = apt_python(lines)
    assert state["apt"] == ("python3-apt" in expected)
    assert state["ready"] == ("python3-apt" in expected and "python3-debian" in expected)
    assert not state["ready"] or state["apt"]
