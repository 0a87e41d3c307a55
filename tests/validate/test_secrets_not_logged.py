# -*- coding: utf-8 -*-
"""Inventory secrets never reach the output, even at -vvv.

site.yml runs with -vvv on an inventory that sets every secret the collection takes (worker_join_secrets,
loadbalancer_vrrp_auth_pass, proxy URLs with credentials) and passes the validate play; the hosts are
unreachable (127.0.0.1 port 1), so the run covers every play up to the first host contact: the validate play,
the load balancer checks and the preflight plays. Each secret string must be absent from the output.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
SITE = os.path.join(REPO, "site.yml")

SECRETS = {
    "loadbalancer_vrrp_auth_pass": "Vr3tPw9",
    "worker_join_secrets": "tok3nsecret00000",
    "prereqs_package_proxy": "Pr0xyPw1",
    "prereqs_package_proxy_https": "Pr0xyPw2",
    "container_runtime_http_proxy": "Pr0xyPw3",
    "container_runtime_https_proxy": "Pr0xyPw4",
}
GROUP_VARS = {
    "ansible_host": "127.0.0.1",
    "ansible_port": 1,
    "ansible_connection": "ssh",
    "ansible_ssh_common_args": "-o ConnectTimeout=2 -o ConnectionAttempts=1",
    "kubernetes_control_plane_endpoint": "127.0.0.5:6443",
    "loadbalancer_vip": "127.0.0.5",
    "loadbalancer_vip_prefix": 8,
    "loadbalancer_vrrp_auth_pass": SECRETS["loadbalancer_vrrp_auth_pass"],
    "worker_join_secrets": {
        "api_server_endpoint": "127.0.0.5:6443",
        "token": "abcdef." + SECRETS["worker_join_secrets"],
        "discovery_token_ca_cert_hashes": ["sha256:" + "0" * 64],
    },
    "prereqs_package_proxy": f"http://user:{SECRETS['prereqs_package_proxy']}@proxy.example.test:3128",
    "prereqs_package_proxy_https": f"http://user:{SECRETS['prereqs_package_proxy_https']}@proxy.example.test:3128",
    "container_runtime_http_proxy": f"http://user:{SECRETS['container_runtime_http_proxy']}@proxy.example.test:3128",
    "container_runtime_https_proxy": f"http://user:{SECRETS['container_runtime_https_proxy']}@proxy.example.test:3128",
}


@pytest.fixture(scope="module")
def verbose_run(tmp_path_factory):
    inv = tmp_path_factory.mktemp("secrets")
    (inv / "group_vars").mkdir()
    (inv / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": {
        "control_plane": {"hosts": {"cp1": {}}}, "workers": {"hosts": {"w1": {}}},
        "loadbalancers": {"hosts": {"lb1": {}, "lb2": {}}}}}}))
    (inv / "group_vars" / "all.yml").write_text(yaml.safe_dump(GROUP_VARS))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_CACHE_PLUGIN_CONNECTION=str(inv / "facts"))
    r = subprocess.run([ANSIBLE_PLAYBOOK, "-i", str(inv / "hosts.yml"), SITE, "-vvv"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=300, check=False)
    return r.stdout + r.stderr


def _sections(out: str) -> list[tuple[str, str]]:
    """(task path, text) of every task's output."""
    parts = re.split(r"^(?=TASK \[)", out, flags=re.M)
    found = []
    for part in parts:
        m = re.search(r"^task path: (\S+)", part, re.M)
        found.append((m.group(1) if m else "", part))
    return found


def test_the_run_reached_the_hosts(verbose_run):
    # The validate play and the controller-side preflight passed: the first host contact is UNREACHABLE.
    assert "PLAY [Check every node before changing it]" in verbose_run, verbose_run[-3000:]
    assert "UNREACHABLE" in verbose_run, verbose_run[-3000:]


@pytest.mark.parametrize("variable", sorted(SECRETS))
def test_secret_not_in_output(verbose_run, variable):
    secret = SECRETS[variable]
    leaks = [path for path, text in _sections(verbose_run) if secret in text]
    assert not leaks, f"{variable} ({secret}) printed by: {sorted(set(leaks))}"
