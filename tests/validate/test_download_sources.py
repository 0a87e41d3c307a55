# -*- coding: utf-8 -*-
"""Plain http:// sources need kubernetes_allow_insecure_http, and sha256 pins must be well formed.

Checked by the first play of playbooks/preflight.yml (roles/kubernetes/tasks/sources.yml) on the controller:
site.yml stops there, naming the variable, before any host is contacted (the hosts are unreachable:
127.0.0.1 port 1, so contacting one would show UNREACHABLE). Good settings pass that play and the run goes
on to the hosts (and then stops at UNREACHABLE, which is what shows the check let it through).
"""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
SITE = os.path.join(REPO, "site.yml")
UNREACHABLE_HOST = {"ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_connection": "ssh",
                    "ansible_ssh_common_args": "-o ConnectTimeout=2 -o ConnectionAttempts=1"}
HEX = "0123456789abcdef" * 4
HTTP_REPO = "http://repo.example.test/core:/stable:"
CHECK = "Refuse plain http sources unless kubernetes_allow_insecure_http is true"

# name -> (group_vars/all, host_vars of w1, strings the failure must contain; None = the settings pass)
CASES = {
    "http_package_repository": ({"kubernetes_package_repository": HTTP_REPO}, {},
                                ["kubernetes_allow_insecure_http", "kubernetes_package_repository", HTTP_REPO]),
    "http_download_mirror_on_one_host": ({}, {"container_runtime_download_base_url": "HTTP://mirror.example.test"},
                                         ["container_runtime_download_base_url", "(w1)", "kubernetes_allow_insecure_http"]),
    "http_registry_mirror": ({"container_runtime_registry_mirrors": {"docker.io": ["http://mirror.example.test"]}}, {},
                             ["container_runtime_registry_mirrors[docker.io]", "kubernetes_allow_insecure_http"]),
    "http_calico_manifest_credentials_masked": (
        {"cni_calico_manifest_url": "http://user:s3cr3t-pw@mirror.example.test/calico.yaml"}, {},
        ["cni_calico_manifest_url", "http://***@mirror.example.test/calico.yaml", "kubernetes_allow_insecure_http"]),
    "sha256_not_hex": ({"container_runtime_unit_sha256": "sha256:" + HEX}, {},
                       ["container_runtime_unit_sha256", "64 hexadecimal digits"]),
    "sha256_too_short": ({"cni_calico_manifest_sha256": HEX[:40]}, {}, ["cni_calico_manifest_sha256", "64 hexadecimal"]),
    "https_sources_pass": ({"kubernetes_package_repository": "https://repo.example.test/core:/stable:",
                            "container_runtime_containerd_sha256": HEX.upper()}, {}, None),
    "http_with_opt_in_passes": ({"kubernetes_package_repository": HTTP_REPO, "kubernetes_allow_insecure_http": True,
                                 "container_runtime_registry_mirrors": {"docker.io": ["http://mirror.example.test"]}},
                                {}, None),
}


def _run(name, tmp_root):
    group_vars, w1_vars, _ = CASES[name]
    inv_dir = os.path.join(tmp_root, name)
    os.makedirs(os.path.join(inv_dir, "group_vars"))
    with open(os.path.join(inv_dir, "hosts.yml"), "w", encoding="utf-8") as f:
        yaml.safe_dump({"all": {"children": {"control_plane": {"hosts": {"cp1": {}}},
                                             "workers": {"hosts": {"w1": w1_vars}}}}}, f)
    with open(os.path.join(inv_dir, "group_vars", "all.yml"), "w", encoding="utf-8") as f:
        yaml.safe_dump(dict(UNREACHABLE_HOST, **group_vars), f)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_CACHE_PLUGIN_CONNECTION=os.path.join(inv_dir, "facts"), ANSIBLE_RETRY_FILES_ENABLED="0")
    r = subprocess.run([ANSIBLE_PLAYBOOK, "-i", os.path.join(inv_dir, "hosts.yml"), SITE], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=180, check=False)
    return r.returncode, r.stdout + r.stderr


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("sources"))
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(_run, name, root) for name in CASES}
        return {name: f.result() for name, f in futures.items()}


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c[2] is not None])
def test_refused_before_any_host_is_contacted(runs, name):
    rc, out = runs[name]
    assert rc != 0, out
    assert "UNREACHABLE" not in out, out
    assert "Check download sources and checksum pins before any host is contacted" in out, out
    failure = out[out.index("fatal: [localhost]"):] if "fatal: [localhost]" in out else ""
    for expected in CASES[name][2]:
        assert expected in failure, f"{expected!r} not in the failure:\n{out}"
    assert "s3cr3t-pw" not in out


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c[2] is None])
def test_accepted_settings_reach_the_hosts(runs, name):
    rc, out = runs[name]
    assert "fatal: [localhost]" not in out, out
    assert f"TASK [kubeforge.kubeadm.kubernetes : {CHECK}]" in out, out
    # The run went on to the per-host checks: the hosts are unreachable by design.
    assert rc != 0 and "UNREACHABLE" in out, out


PLAY_VARS_PLAYBOOK = """
- name: The container_runtime role's own check sees play variables too
  hosts: localhost
  gather_facts: false
  vars:
    container_runtime_unit_base_url: http://play-vars.example.test
  tasks:
    - name: Check this host's sources as the container_runtime role does
      ansible.builtin.include_role:
        name: kubeforge.kubeadm.kubernetes
        tasks_from: sources
      vars:
        kubernetes_sources_hosts: ["{{ inventory_hostname }}"]
"""


@pytest.mark.parametrize("opt_in", [False, True])
def test_role_check_sees_play_variables(tmp_path, opt_in):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY_VARS_PLAYBOOK)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_CACHE_PLUGIN_CONNECTION=str(tmp_path / "facts"), ANSIBLE_LOCALHOST_WARNING="false")
    extra = ["-e", "kubernetes_allow_insecure_http=true"] if opt_in else []
    r = subprocess.run([ANSIBLE_PLAYBOOK, "-i", "localhost,", str(playbook), *extra], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120, check=False)
    out = r.stdout + r.stderr
    if opt_in:
        assert r.returncode == 0, out
    else:
        assert r.returncode != 0, out
        assert "container_runtime_unit_base_url 'http://play-vars.example.test'" in out, out
