# -*- coding: utf-8 -*-
"""Unit tests for the TOML rendering of containerd's files (plugins/module_utils/toml_text.py, filter to_toml)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.kubeforge.kubeadm.plugins.module_utils.toml_text import to_toml, toml_key, toml_value


def test_containerd_shape():
    data = {
        "version": 3,
        "root": "/var/lib/containerd",
        "grpc": {"address": "/run/containerd/containerd.sock"},
        "plugins": {
            "io.containerd.cri.v1.runtime": {
                "enable_selinux": False,
                "containerd": {"runtimes": {"runc": {"runtime_type": "io.containerd.runc.v2", "options": {"SystemdCgroup": True}}}},
            },
        },
    }
    assert to_toml(data) == (
        'version = 3\n'
        'root = "/var/lib/containerd"\n'
        '\n[grpc]\n'
        'address = "/run/containerd/containerd.sock"\n'
        '\n[plugins."io.containerd.cri.v1.runtime"]\n'
        'enable_selinux = false\n'
        '\n[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]\n'
        'runtime_type = "io.containerd.runc.v2"\n'
        '\n[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]\n'
        'SystemdCgroup = true\n'
    )


def test_scalars_come_before_tables_and_empty_mappings_are_inline():
    assert to_toml({"t": {"a": 1}, "e": {}, "s": "x"}) == 'e = {  }\ns = "x"\n\n[t]\na = 1\n'


def test_values():
    assert toml_value(True) == "true"
    assert toml_value(1.5) == "1.5"
    assert toml_value('say "hi" é') == '"say \\"hi\\" \\u00e9"'
    assert toml_value(["pull", {"q": 1}]) == '["pull", { q = 1 }]'
    assert toml_value([]) == "[]"


def test_keys():
    assert toml_key("Systemd_Cgroup-1") == "Systemd_Cgroup-1"
    assert toml_key("https://m.example") == '"https://m.example"'
    assert toml_key("a b") == '"a b"'
    assert toml_key("key\n") == '"key\\n"'


def test_hosts_toml_shape():
    assert to_toml({"server": "https://registry-1.docker.io",
                    "host": {"https://m1": {"capabilities": ["pull", "resolve"]}}}) == (
        'server = "https://registry-1.docker.io"\n\n[host."https://m1"]\ncapabilities = ["pull", "resolve"]\n')


def test_refusals():
    with pytest.raises(ValueError, match="mapping"):
        to_toml(["a"])
    with pytest.raises(ValueError, match="null"):
        to_toml({"a": None})


# Basic multilingual plane only: strings are JSON-escaped as the role's former macro did (to_json), and JSON
# writes a character beyond U+FFFF as a surrogate pair, which TOML refuses (test_astral_characters_are_not_toml).
_TEXT = st.characters(blacklist_categories=("Cs",), max_codepoint=0xFFFF)
_KEYS = st.text(alphabet=_TEXT, min_size=1, max_size=8)
_SCALARS = st.one_of(st.booleans(), st.integers(-10 ** 6, 10 ** 6), st.text(alphabet=_TEXT, max_size=12))
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_KEYS, inner, max_size=3)),
                       max_leaves=8)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_KEYS, _VALUES, max_size=4))
def test_round_trip_with_a_toml_parser(data):
    """Whatever the data, a TOML parser reads back exactly the data (TOML arrays are heterogeneous since 1.0)."""
    assert tomllib.loads(to_toml(data)) == data


def test_astral_characters_are_not_toml():
    """Known limit, kept from the former macro: U+10000 and above are written as JSON surrogate escapes."""
    with pytest.raises(tomllib.TOMLDecodeError):
        tomllib.loads(to_toml({"k": "\U00010000"}))


def test_bare_keys_only_when_allowed():
    assert re.match(r"^[A-Za-z0-9_-]+ = ", to_toml({"ok_key-1": 1}))
