# -*- coding: utf-8 -*-
"""Unit tests for the empty-settings filter (plugins/filter/settings.py) and its rule on the real role specs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os

import pytest
import yaml

from ansible.errors import AnsibleFilterError
from ansible_collections.kubeforge.kubeadm.plugins.filter.settings import FilterModule, empty_settings, may_be_empty

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))

SPECS = {
    "repo": {"type": "str", "default": "registry.k8s.io", "description": "Registry."},
    "dir": {"type": "path", "default": "/etc/kubernetes/addons"},
    "endpoint": {"type": "str", "default": "", "description": "host:port. Empty for the first control plane."},
    "proxy_https": {"type": "str", "default": "{{ proxy }}", "description": ["Proxy for https.", "Empty for none."]},
    "needed": {"type": "str", "required": True},
    "untyped": {"default": "x"},
    "group": {"type": "str", "description": ["Group. Default computed."]},
    "cni": {"type": "str", "default": "flannel", "choices": ["flannel", "calico"]},
    "count": {"type": "int", "default": 3},
    "pools": {"type": "list", "elements": "str", "default": ["pool.ntp.org"]},
    "no_proxy": {"type": "list", "elements": "str", "default": [], "description": "Hosts. Empty items are ignored."},
    "args": {"type": "list", "elements": "dict", "default": [], "options": {
        "name": {"type": "str", "required": True},
        "value": {"type": "str", "required": True, "description": ["Flag value. Empty gives --name=."]}}},
    "mirror": {"type": "dict", "options": {"url": {"type": "str", "required": True}}},
    "free_dict": {"type": "dict", "default": {}},
}

HINT_REPO = "it must be a non-empty string; remove the setting to use the default (registry.k8s.io)"


def test_filter_registered():
    assert FilterModule().filters() == {"empty_settings": empty_settings}


@pytest.mark.parametrize("option,expected", [
    ({"type": "str", "default": ""}, True),
    ({"type": "str", "default": "x", "description": "Proxy. Empty for none."}, True),
    ({"type": "str", "default": "x", "description": ["Proxy.", "Empty for none."]}, True),
    ({"type": "str", "default": "x", "description": "Proxy; Empty means none."}, True),
    ({"type": "str", "default": "x", "description": "Not Empty here. Never empty."}, False),
    ({"type": "str", "default": "x", "description": "Emptying the cache."}, True),  # a sentence that starts with Empty
    ({"type": "str", "default": "x"}, False),
    ({"type": "str", "required": True}, False),
    ({"type": "str"}, False),
    ({"type": "str", "default": None}, False),
])
def test_may_be_empty(option, expected):
    assert may_be_empty(option) is expected


@pytest.mark.parametrize("values,expected", [
    ({"repo": ""}, ["repo is empty (hosts: cp1): " + HINT_REPO]),
    ({"repo": "   "}, ["repo is only whitespace (hosts: cp1): " + HINT_REPO]),
    ({"repo": "\t\n"}, ["repo is only whitespace (hosts: cp1): " + HINT_REPO]),
    ({"repo": None}, ["repo is null (hosts: cp1): " + HINT_REPO]),
    ({"dir": ""}, ["dir is empty (hosts: cp1): it must be a non-empty string; remove the setting to use the default "
                   "(/etc/kubernetes/addons)"]),
    ({"needed": ""}, ["needed is empty (hosts: cp1): it must be a non-empty string"]),
    ({"untyped": ""}, ["untyped is empty (hosts: cp1): it must be a non-empty string; remove the setting to use the "
                       "default (x)"]),
    ({"group": ""}, ["group is empty (hosts: cp1): it must be a non-empty string"]),
    ({"group": None}, []),  # null default: null is "not set"
    ({"endpoint": ""}, []),
    ({"endpoint": None}, []),
    ({"endpoint": "  "}, ["endpoint is only whitespace (hosts: cp1): leave it empty ('') or set a value"]),
    ({"proxy_https": ""}, []),
    ({"proxy_https": " "}, ["proxy_https is only whitespace (hosts: cp1): leave it empty ('') or set a value"]),
    ({"cni": ""}, []),  # choices: the argument spec check refuses it
    ({"count": ""}, []),  # not a string option
    ({"repo": 5}, []),  # wrong type: the argument spec check refuses it
    ({"pools": ["pool.ntp.org", "", " ", None]}, [
        "pools[1] is empty (hosts: cp1): every item must be a non-empty string",
        "pools[2] is only whitespace (hosts: cp1): every item must be a non-empty string",
        "pools[3] is null (hosts: cp1): every item must be a non-empty string",
    ]),
    ({"pools": []}, []),
    ({"pools": "pool.ntp.org"}, []),  # not a list: the argument spec check converts or refuses it
    ({"no_proxy": ["", "a"]}, []),
    ({"no_proxy": [" "]}, ["no_proxy[0] is only whitespace (hosts: cp1): leave it empty ('') or set a value"]),
    ({"args": [{"name": "v", "value": "2"}, {"name": " ", "value": ""}, "not a dict"]},
     ["args[1].name is only whitespace (hosts: cp1): it must be a non-empty string"]),
    ({"mirror": {"url": ""}}, ["mirror.url is empty (hosts: cp1): it must be a non-empty string"]),
    ({"free_dict": {"a": ""}}, []),
    ({"unknown": ""}, []),  # not an option of any role: the misspelling check reports it
])
def test_empty_settings(values, expected):
    assert empty_settings({"cp1": values}, SPECS) == expected


def test_messages_group_hosts_and_sort_by_name():
    values = {"cp1": {"repo": "", "pools": [""]}, "w1": {"repo": "", "dir": " "}, "w2": {"repo": "ok"}, "lb1": None}
    assert empty_settings(values, [SPECS]) == [
        "dir is only whitespace (hosts: w1): it must be a non-empty string; remove the setting to use the default "
        "(/etc/kubernetes/addons)",
        "pools[0] is empty (hosts: cp1): every item must be a non-empty string",
        "repo is empty (hosts: cp1, w1): " + HINT_REPO,
    ]


def test_first_spec_of_a_name_wins():
    assert empty_settings({"h": {"x": ""}}, [{"x": {"default": ""}}, {"x": {"default": "y"}}]) == []
    assert empty_settings({"h": {"x": ""}}, [{"x": {"default": "y"}}, {"x": {"default": ""}}]) == [
        "x is empty (hosts: h): it must be a non-empty string; remove the setting to use the default (y)"]


@pytest.mark.parametrize("values,specs", [
    ([], SPECS),
    ({"h": {}}, "specs"),
    ({"h": {}}, [SPECS, "x"]),
])
def test_bad_arguments(values, specs):
    with pytest.raises(AnsibleFilterError, match="empty_settings"):
        empty_settings(values, specs)


# --------------------------------------------------------------------------- the rule on the collection's roles
def _role_options():
    """Every option of every entry point of every role, with sub-options as name.sub."""
    found = {}

    def walk(prefix, options):
        for name, option in (options or {}).items():
            found.setdefault(prefix + name, option or {})
            walk(prefix + name + ".", (option or {}).get("options"))

    for path in sorted(glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml"))):
        with open(path) as handle:
            for entry_point in yaml.safe_load(handle)["argument_specs"].values():
                walk("", entry_point.get("options"))
    return found


def test_which_role_settings_may_be_empty():
    """The string settings the specs allow empty: each has default "" or says what empty means."""
    options = _role_options()
    assert len(options) > 100
    allowed = sorted(name for name, option in options.items()
                     if option.get("type", "str") in ("str", "path") and not option.get("choices") and may_be_empty(option))
    assert allowed == [
        "cni_calico_manifest_sha256", "cni_flannel_iface", "container_runtime_containerd_sha256", "container_runtime_http_proxy",
        "container_runtime_https_proxy", "container_runtime_runc_sha256", "container_runtime_unit_sha256",
        "control_plane_apiserver_extra_args.value", "control_plane_controller_manager_extra_args.value",
        "control_plane_etcd_extra_args.value", "control_plane_kubelet_extra_args.value",
        "control_plane_scheduler_extra_args.value", "kubernetes_control_plane_endpoint", "kubernetes_node_address",
        "loadbalancer_address", "loadbalancer_bind_address", "loadbalancer_interface", "loadbalancer_vip",
        "loadbalancer_vrrp_auth_pass", "prereqs_package_proxy", "prereqs_package_proxy_https",
        "worker_kubelet_extra_args.value",
    ]


def test_every_cluster_wide_string_with_a_value_is_refused_empty():
    with open(os.path.join(ROOT, "roles", "kubernetes", "meta", "argument_specs.yml")) as handle:
        specs = yaml.safe_load(handle)["argument_specs"]["main"]["options"]
    with open(os.path.join(ROOT, "roles", "kubernetes", "defaults", "main.yml")) as handle:
        defaults = yaml.safe_load(handle)
    needed = sorted(name for name, value in defaults.items()
                    if isinstance(value, str) and value and not specs[name].get("choices"))
    assert "kubernetes_image_repository" in needed and "kubernetes_package_repository" in needed
    messages = empty_settings({"cp1": dict.fromkeys(needed, " ")}, specs)
    assert [message.split(" ")[0] for message in messages] == needed
