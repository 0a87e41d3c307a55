# -*- coding: utf-8 -*-
"""Bad inputs are refused by the validate play (play 1 of site.yml) before any host is contacted.

Every case writes its own inventory whose hosts cannot be reached (127.0.0.1, port 1, loopback only)
and runs ``ansible-playbook site.yml`` against it. A case passes when the run fails, the failure is in
the validate play, the message names the variable and the bad value, and no host was contacted
(no UNREACHABLE, no task result for any node, no play after the validate play started).
Good inventories run only playbooks/validate.yml and must pass.

The runs are started in parallel by one session fixture (a small pool, as each is a separate
ansible-playbook process); each case is still its own test. Set KUBEFORGE_VALIDATE_PLAYBOOK to run
the bad cases against another playbook (default: site.yml at the repository root).
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import subprocess
import sys
import tempfile

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
VALIDATE = os.path.join(REPO, "playbooks", "validate.yml")
# What users run; playbooks/validate.yml alone only while site.yml does not exist.
SITE = os.environ.get(
    "KUBEFORGE_VALIDATE_PLAYBOOK",
    os.path.join(REPO, "site.yml") if os.path.exists(os.path.join(REPO, "site.yml")) else VALIDATE,
)
NODES = ("cp1", "cp2", "cp3", "w1", "w2")
POOL = int(os.environ.get("KUBEFORGE_VALIDATE_JOBS", "4"))
TIMEOUT = 120

# Hosts that fail at once if anything tries to reach them.
UNREACHABLE_HOST = {
    "ansible_host": "127.0.0.1",
    "ansible_port": 1,
    "ansible_connection": "ssh",
    "ansible_ssh_common_args": "-o ConnectTimeout=2 -o ConnectionAttempts=1",
}


def inventory(all_vars=None, control_plane=("cp1",), workers=("w1",), host_vars=None, groups=None):
    """Build an inventory dict: unreachable hosts, the case's variables."""
    host_vars = host_vars or {}
    children = {}
    if groups is None:
        groups = {"control_plane": list(control_plane), "workers": list(workers)}
    for group, hosts in groups.items():
        children[group] = {"hosts": {host: dict(host_vars.get(host, {})) for host in hosts}}
    return {"all": {"vars": dict(UNREACHABLE_HOST, **(all_vars or {})), "children": children}}


# name -> (inventory, strings the failure message must contain: the variable and the bad value)
BAD_CASES = {
    "no_control_plane_hosts": (
        inventory(groups={"control_plane": [], "workers": ["w1"]}),
        ["control_plane", "empty", "at least one host"],
    ),
    "no_control_plane_group": (
        inventory(groups={"workers": ["w1", "w2"]}),
        ["control_plane", "missing", "at least one host"],
    ),
    "version_leading_v": (
        inventory({"kubernetes_version": "v1.37.1"}),
        ["kubernetes_version", "'v1.37.1'", "1.36 or 1.37"],
    ),
    "version_unsupported_minor": (
        inventory({"kubernetes_version": "1.35.4"}),
        ["kubernetes_version", "'1.35.4'", "supported range 1.36.0 to 1.37.x"],
    ),
    "version_yaml_float": (
        inventory({"kubernetes_version": 1.37}),
        ["kubernetes_version", "'1.37'", "expected X.Y.Z"],
    ),
    "version_differs_between_hosts": (
        inventory(host_vars={"w1": {"kubernetes_version": "1.36.4"}}),
        ["kubernetes_version must be the same on every host", "w1=1.36.4", "cp1=1.37.1"],
    ),
    "pod_subnet_prefix_too_long": (
        inventory({"kubernetes_pod_subnet": "10.244.0.0/33"}),
        ["kubernetes_pod_subnet", "'10.244.0.0/33'", "CIDR"],
    ),
    "pod_subnet_host_bits": (
        inventory({"kubernetes_pod_subnet": "10.244.1.0/16"}),
        ["kubernetes_pod_subnet", "'10.244.1.0/16'", "host bits set"],
    ),
    "service_subnet_not_a_network": (
        inventory({"kubernetes_service_subnet": "services"}),
        ["kubernetes_service_subnet", "'services'", "CIDR"],
    ),
    "subnets_overlap": (
        inventory({"kubernetes_pod_subnet": "10.96.0.0/16"}),
        ["kubernetes_pod_subnet '10.96.0.0/16'", "kubernetes_service_subnet '10.96.0.0/12'", "overlap"],
    ),
    "service_subnet_too_large": (
        inventory({"kubernetes_service_subnet": "10.0.0.0/8", "kubernetes_pod_subnet": "172.16.0.0/16"}),
        ["kubernetes_service_subnet", "'10.0.0.0/8'", "at most /12"],
    ),
    "subnets_mixed_ip_families": (
        inventory({"kubernetes_pod_subnet": "fd00:10:244::/56"}),
        ["kubernetes_pod_subnet 'fd00:10:244::/56'", "kubernetes_service_subnet '10.96.0.0/12'", "same IP family"],
    ),
    "endpoint_missing_with_ha": (
        inventory(control_plane=("cp1", "cp2", "cp3")),
        ["kubernetes_control_plane_endpoint is empty", "3 hosts", "cp1, cp2, cp3"],
    ),
    "endpoint_without_port": (
        inventory({"kubernetes_control_plane_endpoint": "k8s.example.com"}),
        ["kubernetes_control_plane_endpoint", "'k8s.example.com'", "no port"],
    ),
    "endpoint_ipv6_without_brackets": (
        inventory({"kubernetes_control_plane_endpoint": "fd00::10:6443"}),
        ["kubernetes_control_plane_endpoint", "'fd00::10:6443'", "[fd00::10:6443]:6443"],
    ),
    "endpoint_port_out_of_range": (
        inventory({"kubernetes_control_plane_endpoint": "k8s.example.com:99999"}),
        ["kubernetes_control_plane_endpoint", "'k8s.example.com:99999'", "port 99999 is not a number from 1 to 65535"],
    ),
    "endpoint_is_a_url": (
        inventory({"kubernetes_control_plane_endpoint": "https://k8s.example.com:6443"}),
        ["kubernetes_control_plane_endpoint", "'https://k8s.example.com:6443'", "not host:port"],
    ),
    "cni_unknown": (
        inventory({"kubernetes_cni": "weave"}),
        ["kubernetes_cni", "got: weave", "flannel, calico, none"],
    ),
    "runtime_unknown": (
        inventory({"kubernetes_container_runtime": "cri-o"}),
        ["kubernetes_container_runtime", "got: cri-o", "containerd"],
    ),
    "containerd_distro_with_136_plus": (
        inventory({"container_runtime_containerd_source": "distro"}),
        ["container_runtime_containerd_source 'distro'", "kubernetes_version '1.37.1'", "archive", "docker"],
    ),
    "containerd_archive_1x": (
        inventory({"container_runtime_containerd_version": "1.7.28"}),
        ["container_runtime_containerd_version '1.7.28'", "at least 2.0.0"],
    ),
    "containerd_source_unknown": (
        inventory({"container_runtime_containerd_source": "snap"}),
        ["container_runtime_containerd_source", "got: snap", "archive, docker, distro"],
    ),
    "cgroup_v1_flag_not_boolean": (
        inventory({"kubernetes_allow_cgroup_v1": "maybe"}),
        ["kubernetes_allow_cgroup_v1", "maybe", "bool"],
    ),
    "node_address_not_an_ip": (
        inventory(host_vars={"w1": {"kubernetes_node_address": "10.0.0.300"}}),
        ["kubernetes_node_address '10.0.0.300'", "of w1", "IPv4 or IPv6 address"],
    ),
    "selinux_state_disabled": (
        inventory({"prereqs_selinux_state": "disabled"}),
        ["prereqs_selinux_state", "got: disabled", "enforcing, permissive"],
    ),
    "min_memory_not_a_number": (
        inventory({"prereqs_min_memory_mb": "lots"}),
        ["prereqs_min_memory_mb", "lots", "int"],
    ),
    "misspelt_role_variable": (
        inventory({"prereqs_firewal_disable": True}),
        ["prereqs_firewal_disable", "misspelt"],
    ),
    # Empty values of settings that need one (one generic rule over every role's argument specs).
    "cluster_wide_string_empty": (
        inventory({"kubernetes_image_repository": ""}),
        ["kubernetes_image_repository is empty (hosts: cp1, w1)", "non-empty string", "default (registry.k8s.io)"],
    ),
    "cluster_wide_string_whitespace_only": (
        inventory({"kubernetes_package_repository": "   "}),
        ["kubernetes_package_repository is only whitespace (hosts: cp1, w1)", "default (https://pkgs.k8s.io/core:/stable:)"],
    ),
    "cluster_wide_string_null": (
        inventory({"kubernetes_cri_socket": None}),
        ["kubernetes_cri_socket is null (hosts: cp1, w1)", "non-empty string"],
    ),
    "role_string_empty": (
        inventory({"container_runtime_sandbox_image": ""}),
        ["container_runtime_sandbox_image is empty (hosts: cp1, w1)", "non-empty string"],
    ),
    "role_path_empty_on_one_host": (
        inventory(host_vars={"w1": {"cni_addons_dir": ""}}),
        ["cni_addons_dir is empty (hosts: w1)", "default (/etc/kubernetes/addons)"],
    ),
    "role_string_of_another_entry_point_empty": (
        inventory({"control_plane_join_token_description": " "}),
        ["control_plane_join_token_description is only whitespace (hosts: cp1, w1)", "kubeforge.kubeadm join token"],
    ),
    "list_item_empty": (
        inventory({"prereqs_chrony_pools": ["pool.ntp.org", ""]}),
        ["prereqs_chrony_pools[1] is empty (hosts: cp1, w1)", "every item must be a non-empty string"],
    ),
    "sub_option_empty": (
        inventory({"control_plane_apiserver_extra_args": [{"name": "", "value": "x"}]}),
        ["control_plane_apiserver_extra_args[0].name is empty (hosts: cp1, w1)", "non-empty string"],
    ),
    "may_be_empty_but_whitespace_only": (
        inventory({"prereqs_package_proxy": " "}),
        ["prereqs_package_proxy is only whitespace (hosts: cp1, w1)", "leave it empty ('') or set a value"],
    ),
}

GOOD_CASES = {
    "defaults_one_control_plane": inventory(),
    "ha_with_ipv6_endpoint_and_overrides": inventory(
        {
            "kubernetes_control_plane_endpoint": "[fd00::10]:6443",
            "kubernetes_version": "1.36.4",
            "kubernetes_cni": "calico",
            "kubernetes_allow_cgroup_v1": True,
            "kubernetes_image_repository": "registry.aliyuncs.com/google_containers",
            "container_runtime_containerd_source": "archive",
            "container_runtime_runc_source": "distro",
            "container_runtime_download_base_url": "http://172.30.10.2:8080/mirror",
            "prereqs_package_proxy": "http://172.30.10.1:3142",
            "prereqs_package_proxy_bypass": ["172.30.10.2"],
            # empty where the specs say what empty means; options of entry points other than main
            "prereqs_package_proxy_https": "",
            "cni_flannel_iface": "",
            "control_plane_apiserver_extra_args": [{"name": "audit-log-path", "value": ""}],
            "control_plane_join_token_ttl": "2h",
            "control_plane_verify_retries": 30,
        },
        control_plane=("cp1", "cp2", "cp3"),
        workers=("w1", "w2"),
        host_vars={"w2": {"kubernetes_node_address": "172.30.10.22"}},
    ),
}


def _collections_path(tree):
    namespace = os.path.join(tree, "ansible_collections", "kubeforge")
    os.makedirs(namespace, exist_ok=True)
    os.symlink(REPO, os.path.join(namespace, "kubeadm"))
    return os.pathsep.join([tree, os.path.join(REPO, ".cache", "collections")])


def _run(workdir, collections, name, inv, playbook):
    path = os.path.join(workdir, name + ".yml")
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(inv, handle, default_flow_style=False)
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=collections,
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_STDOUT_CALLBACK="default",
        ANSIBLE_CACHE_PLUGIN="memory",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_LOCAL_TEMP=os.path.join(workdir, "tmp"),
        ANSIBLE_HOME=os.path.join(workdir, "home"),
    )
    proc = subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", path, playbook],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    return proc.returncode, proc.stdout


@pytest.fixture(scope="session")
def runs():
    """Run every case once, in parallel; map case name -> (exit code, output)."""
    with tempfile.TemporaryDirectory(prefix="kubeforge-validate-") as workdir:
        collections = _collections_path(os.path.join(workdir, "collections"))
        jobs = {name: (inv, SITE) for name, (inv, _expected) in BAD_CASES.items()}
        jobs.update({"good_" + name: (inv, VALIDATE) for name, inv in GOOD_CASES.items()})
        with concurrent.futures.ThreadPoolExecutor(max_workers=POOL) as pool:
            futures = {
                name: pool.submit(_run, workdir, collections, name, inv, playbook)
                for name, (inv, playbook) in jobs.items()
            }
            yield {name: future.result() for name, future in futures.items()}


def _plays(output):
    return re.findall(r"^PLAY \[(.*?)\]", output, re.MULTILINE)


def test_enough_distinct_bad_inputs():
    assert len(BAD_CASES) >= 15


@pytest.mark.parametrize("name", sorted(BAD_CASES))
def test_bad_input_refused_before_any_host(runs, name):
    rc, output = runs[name]
    expected = BAD_CASES[name][1]
    assert rc != 0, output
    # Only the validate play started, and it is where the run failed.
    assert _plays(output) == ["Validate the inventory and variables (no host is contacted)"], output
    assert re.search(r"^fatal: \[localhost\]", output, re.MULTILINE), output
    # No host was contacted.
    assert "UNREACHABLE" not in output, output
    for node in NODES:
        assert not re.search(r"^(ok|changed|fatal|failed|skipping): \[%s\]" % node, output, re.MULTILINE), output
    # The message names the variable, the bad value and what is allowed.
    message = output[output.index("fatal: [localhost]"):]
    for text in expected:
        assert text in message, "%r not in the failure message:\n%s" % (text, message)


@pytest.mark.parametrize("name", sorted(GOOD_CASES))
def test_good_inventory_passes_validation(runs, name):
    rc, output = runs["good_" + name]
    assert rc == 0, output
    assert "Inventory valid" in output, output
    assert "UNREACHABLE" not in output, output
