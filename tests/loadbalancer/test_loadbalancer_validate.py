"""Bad and good HA shapes against roles/loadbalancer/tasks/validate.yml (localhost only, no host contacted:
the inventory's hosts have TEST-NET addresses and ansible_connection=ssh, and the play targets localhost).

    .venv/bin/pytest tests/loadbalancer/test_validate.py -q
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = Path(__file__).resolve().parent / "validate.yml"


def inventory(control_planes=3, loadbalancers=2, net="10.20.30"):
    hosts = {f"cp{i + 1}": {"ansible_host": f"{net}.{10 + i}"} for i in range(control_planes)}
    lbs = {f"lb{i + 1}": {"ansible_host": f"{net}.{50 + i}"} for i in range(loadbalancers)}
    return {"all": {"children": {"control_plane": {"hosts": hosts}, "workers": {"hosts": {"w1": {"ansible_host": f"{net}.90"}}},
                                 "loadbalancers": {"hosts": lbs}}}}


GOOD = {"loadbalancer_vip": "10.20.30.5", "kubernetes_control_plane_endpoint": "10.20.30.5:6443"}

CASES = [
    # id, inventory kwargs, group vars, expected substring (None = passes)
    ("dedicated-pair-ok", {}, GOOD, None),
    ("single-control-plane-no-lb-ok", {"control_planes": 1, "loadbalancers": 0}, {}, None),
    ("external-lb-ok", {"loadbalancers": 0}, {"kubernetes_control_plane_endpoint": "api.example.com:6443"}, None),
    ("colocated-ok", {"loadbalancers": 0},
     {"loadbalancer_colocated": True, "loadbalancer_vip": "10.20.30.5", "kubernetes_control_plane_endpoint": "10.20.30.5:8443"},
     None),
    ("haproxy-only-single-lb-ok", {"loadbalancers": 1}, {"kubernetes_control_plane_endpoint": "10.20.30.50:6443"}, None),
    ("ha-without-endpoint", {"loadbalancers": 0}, {},
     "kubernetes_control_plane_endpoint is empty but control_plane has 3 hosts"),
    ("lb-without-endpoint", {}, {"loadbalancer_vip": "10.20.30.5"},
     "kubernetes_control_plane_endpoint is empty but a load balancer is configured"),
    ("keepalived-needs-two", {"loadbalancers": 1}, GOOD, "needs at least 2 load balancers"),
    ("vip-outside-network", {}, {"loadbalancer_vip": "10.20.31.5", "kubernetes_control_plane_endpoint": "10.20.31.5:6443"},
     "loadbalancer_vip=10.20.31.5 is outside 10.20.31.0/24 (loadbalancer_vip_prefix), the network of lb1 (address 10.20.30.50)"),
    ("vip-outside-with-prefix", {}, dict(GOOD, loadbalancer_vip_prefix=28), "loadbalancer_vip=10.20.30.5 is outside 10.20.30.0/28"),
    ("vip-is-a-host", {}, {"loadbalancer_vip": "10.20.30.50", "kubernetes_control_plane_endpoint": "10.20.30.50:6443"},
     "loadbalancer_vip=10.20.30.50 is the address of lb1"),
    ("vip-broadcast", {}, {"loadbalancer_vip": "10.20.30.255", "kubernetes_control_plane_endpoint": "10.20.30.255:6443"},
     "is the network or broadcast address"),
    ("vip-not-ipv4", {}, {"loadbalancer_vip": "vip.example.com", "kubernetes_control_plane_endpoint": "vip.example.com:6443"},
     "loadbalancer_vip=vip.example.com is not an IPv4 address"),
    ("bad-prefix", {}, dict(GOOD, loadbalancer_vip_prefix=33), "loadbalancer_vip_prefix=33 is not a prefix length"),
    ("endpoint-host-not-vip", {}, dict(GOOD, kubernetes_control_plane_endpoint="10.20.30.6:6443"),
     "kubernetes_control_plane_endpoint=10.20.30.6:6443 has host 10.20.30.6 but loadbalancer_vip=10.20.30.5"),
    ("endpoint-port-not-frontend", {}, dict(GOOD, kubernetes_control_plane_endpoint="10.20.30.5:8443"),
     "uses port 8443 but the load balancer listens on loadbalancer_port=6443"),
    ("colocated-endpoint-on-6443", {"loadbalancers": 0},
     {"loadbalancer_colocated": True, "loadbalancer_vip": "10.20.30.5", "kubernetes_control_plane_endpoint": "10.20.30.5:6443"},
     "uses port 6443 but the load balancer listens on loadbalancer_port=8443"),
    ("colocated-port-clash", {"loadbalancers": 0},
     {"loadbalancer_colocated": True, "loadbalancer_port": 6443, "loadbalancer_vip": "10.20.30.5",
      "kubernetes_control_plane_endpoint": "10.20.30.5:6443"},
     "loadbalancer_port=6443 equals loadbalancer_backend_port=6443 with loadbalancer_colocated=true"),
    ("endpoint-malformed", {}, dict(GOOD, kubernetes_control_plane_endpoint="10.20.30.5"),
     "kubernetes_control_plane_endpoint=10.20.30.5 is not host:port"),
    ("router-id-range", {}, dict(GOOD, loadbalancer_virtual_router_id=300), "loadbalancer_virtual_router_id=300 is not within 1-255"),
    ("auth-pass-too-long", {}, dict(GOOD, loadbalancer_vrrp_auth_pass="longer-than-8"),
     "loadbalancer_vrrp_auth_pass has 13 characters"),
]


@pytest.mark.parametrize(("inv", "group_vars", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_validate(tmp_path, inv, group_vars, expected):
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory(**inv)))
    (tmp_path / "group_vars" / "all.yml").write_text(yaml.safe_dump(group_vars))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    result = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(tmp_path / "hosts.yml"),
                             str(PLAYBOOK)], cwd=ROOT, env=env, text=True, capture_output=True, timeout=120, check=False)
    output = result.stdout + result.stderr
    if expected is None:
        assert result.returncode == 0, output[-3000:]
    else:
        assert result.returncode != 0, output[-3000:]
        assert expected in output, output[-3000:]
        # Only localhost ran anything.
        assert "lb1 " not in output.split("PLAY RECAP")[-1]
    # A secret never shows up in the output.
    assert "longer-than-8" not in output


@pytest.mark.parametrize("group_vars", [{}, {"kubernetes_control_plane_endpoint": "api.example.com:6443"}],
                         ids=["single-control-plane", "external-load-balancer"])
def test_load_balancer_play_is_a_no_op_without_load_balancers(tmp_path, group_vars):
    """No loadbalancers group and not co-located: playbooks/loadbalancer.yml ends for every host without
    contacting it (the hosts' TEST-NET addresses would be unreachable)."""
    inv = inventory(control_planes=3, loadbalancers=0, net="192.0.2")
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inv))
    (tmp_path / "group_vars" / "all.yml").write_text(yaml.safe_dump(dict(group_vars, ansible_ssh_common_args="-o ConnectTimeout=2")))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    result = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(tmp_path / "hosts.yml"),
                             str(ROOT / "playbooks" / "loadbalancer.yml")], cwd=ROOT, env=env, text=True,
                            capture_output=True, timeout=120, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "unreachable=1" not in output and "UNREACHABLE" not in output, output[-3000:]
    assert "Gather the facts" not in output or "ok: [cp1]" not in output
