"""add_nodes.yml on a real lab: a 1 + 1 cluster from site.yml, a second worker added to the inventory, then
add_nodes.yml prepares and joins only that worker, leaves the members unchanged, and every node is Ready (real
kubectl on the control plane). A second add_nodes.yml run changes nothing.

Its own lab (kf-lab-add, 172.30.14.0/24), removed at the end; slow (a few minutes).
"""
from __future__ import annotations

import os
import re
import subprocess

import pytest
from conftest import LAB_DIR, ROOT, dexec, labcore, sh

NAME = "kf-lab-add"
SUBNET = "172.30.14.0/24"


def playbook(name: str) -> tuple[str, dict[str, dict[str, int]]]:
    """Run a root playbook on the lab; returns its output and the PLAY RECAP counts per host."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}")
    r = subprocess.run(["ansible-playbook", "-i", str(labcore.inventory_dir(NAME)), name], cwd=ROOT, env=env,
                       text=True, capture_output=True, timeout=1200, check=False)
    assert r.returncode == 0, f"{name} failed ({r.returncode}):\n{r.stdout[-6000:]}\n{r.stderr[-3000:]}"
    recap = {}
    for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", r.stdout, re.M):
        recap[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
    return r.stdout, recap


@pytest.fixture(scope="module")
def cluster():
    lab = str(LAB_DIR / "lab")
    sh(lab, "down", "--name", NAME, check=False)
    sh(lab, "up", "--name", NAME, "--subnet", SUBNET, "--control-planes", "1", "--workers", "1", timeout=900)
    try:
        playbook("site.yml")
        yield lab
    finally:
        sh(lab, "down", "--name", NAME, check=False)


def test_add_nodes_joins_only_the_new_worker(cluster):
    sh(cluster, "up", "--name", NAME, "--subnet", SUBNET, "--control-planes", "1", "--workers", "2", timeout=900)
    out, recap = playbook("add_nodes.yml")
    cp, w1, w2 = f"{NAME}-cp1", f"{NAME}-worker1", f"{NAME}-worker2"
    assert recap[cp]["changed"] == 0 and recap[w1]["changed"] == 0, recap
    assert recap[w2]["changed"] > 0, recap
    # The members were only asked about their membership (facts, one stat): no prepare or join task ran on them.
    assert recap[w1]["ok"] <= 8, recap
    assert recap[w2]["ok"] > 60, recap

    nodes = dexec(cp, "kubectl get nodes --no-headers").stdout.splitlines()
    status = {line.split()[0]: line.split()[1] for line in nodes}
    assert sorted(status) == sorted([cp, w1, w2]) and set(status.values()) == {"Ready"}, nodes


def test_add_nodes_again_changes_nothing(cluster):
    _out, recap = playbook("add_nodes.yml")
    assert all(c["changed"] == 0 and c["failed"] == 0 for c in recap.values()), recap
