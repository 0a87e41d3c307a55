"""add_nodes.yml on a real lab: a 1 + 1 cluster from site.yml, a second worker added to the inventory, then
add_nodes.yml prepares and joins only that worker, leaves the members unchanged, and every node is Ready (real
kubectl on the control plane). A second add_nodes.yml run changes nothing.

The first add_nodes.yml run is killed while kubeadm join runs on the new worker (issue 13): its JoinConfiguration
(holding the bootstrap token) exists only at the fixed path under /run, 0600 in a 0700 directory, never in /tmp;
the add_nodes.yml run above is the re-run: it removes the leftover before joining, reuses and then deletes the
killed run's token.

Its own lab (kf-lab-add, 172.30.14.0/24), removed at the end; slow (a few minutes).
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import pytest
from conftest import LAB_DIR, ROOT, dexec, labcore, sh

# Overridable so that parallel runs (one lab subnet per person) do not collide; the defaults are the ones above.
NAME = os.environ.get("KF_LAB_ADD_NAME", "kf-lab-add")
SUBNET = os.environ.get("KF_LAB_ADD_SUBNET", "172.30.14.0/24")


CP, W1, W2 = f"{NAME}-cp1", f"{NAME}-worker1", f"{NAME}-worker2"
JOIN_DIR = "/run/kubeadm-join"
JOIN_FILE = f"{JOIN_DIR}/config.yaml"
# Holds `kubeadm join` on the new worker while /run/kf-hold-join exists (first on root's PATH, before /usr/bin).
HOLD_WRAPPER = """#!/bin/sh
if [ "$1" = join ] && [ -e /run/kf-hold-join ]; then exec sleep 600; fi
exec /usr/bin/kubeadm "$@"
"""


def env() -> dict[str, str]:
    return dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}")


def argv(name: str, *args: str) -> list[str]:
    return ["ansible-playbook", "-i", str(labcore.inventory_dir(NAME)), name, *args]


def playbook(name: str, *args: str, ok: bool = True) -> tuple[str, dict[str, dict[str, int]]]:
    """Run a root playbook on the lab; returns its output and the PLAY RECAP counts per host."""
    r = subprocess.run(argv(name, *args), cwd=ROOT, env=env(), text=True, capture_output=True, timeout=1200,
                       check=False)
    assert (r.returncode == 0) == ok, f"{name} exited {r.returncode}:\n{r.stdout[-6000:]}\n{r.stderr[-3000:]}"
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


def node_names() -> list[str]:
    return sorted(dexec(CP, "kubectl get nodes -o name").stdout.split())


def held_sleeps() -> list[str]:
    return dexec(W2, "pgrep -x sleep -a | grep 'sleep 600' | cut -d' ' -f1", check=False).stdout.split()


def test_killed_join_leaves_its_configuration_only_under_run(cluster, tmp_path):
    sh(cluster, "up", "--name", NAME, "--subnet", SUBNET, "--control-planes", "1", "--workers", "2", timeout=900)
    dexec(W2, f"cat > /usr/local/bin/kubeadm <<'EOF'\n{HOLD_WRAPPER}EOF\nchmod 0755 /usr/local/bin/kubeadm; "
              "touch /run/kf-hold-join")
    log = tmp_path / "add_nodes.log"
    with log.open("w") as sink:
        run = subprocess.Popen(argv("add_nodes.yml"), cwd=ROOT, env=env(), text=True, stdout=sink,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 1200
        held: list[str] = []
        while time.monotonic() < deadline and run.poll() is None and not held:
            time.sleep(3)
            held = held_sleeps()
        assert held, "the join was never reached:\n" + log.read_text()[-6000:]
        # kubeadm is inside the join: its configuration exists, root-only, and nowhere else
        modes = dexec(W2, f"stat -c '%a %U' {JOIN_DIR} {JOIN_FILE}; ls /tmp | grep -c kubeadm-join || true").stdout
        assert modes.split("\n")[:3] == ["700 root", "600 root", "0"], modes
        assert "token:" in dexec(W2, f"cat {JOIN_FILE}").stdout
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=60)
        for pid in held_sleeps():
            dexec(W2, f"kill {pid}", check=False)
        dexec(W2, "rm -f /run/kf-hold-join /usr/local/bin/kubeadm")
    # the killed run left the file behind (only root can read it) and the worker did not join
    assert dexec(W2, f"stat -c %a {JOIN_FILE}").stdout.strip() == "600"
    assert f"node/{W2}" not in node_names()


def test_add_nodes_joins_only_the_new_worker(cluster):
    # The re-run after the killed one.
    out, recap = playbook("add_nodes.yml")
    assert recap[W1]["changed"] == 0, recap
    # The join removed the killed run's JoinConfiguration first (profile_tasks prints a timing line between the
    # task header and its result), and after the join nothing is left.
    assert re.search(r"TASK \[kubeforge.kubeadm.kubernetes : Remove a JoinConfiguration an interrupted run left "
                     r"behind\][^\n]*\n(?:[^\n]*\n)?changed: \[" + re.escape(W2), out), out[-6000:]
    assert dexec(W2, f"ls -A {JOIN_DIR}").stdout.strip() == ""
    # The first control plane reuses the killed run's join token (unchanged) and deletes it after the join
    # (join_token_cleanup).
    assert "TASK [kubeforge.kubeadm.control_plane : Delete the bootstrap token of this run]" in out, out[-4000:]
    assert recap[CP]["changed"] == 1, recap
    assert "kubeforge.kubeadm join token" not in dexec(CP, "kubeadm token list").stdout
    assert recap[W2]["changed"] > 0, recap
    # The members were only asked about their membership (facts, one stat): no prepare or join task ran on them.
    assert recap[W1]["ok"] <= 8, recap
    assert recap[W2]["ok"] > 60, recap

    nodes = dexec(CP, "kubectl get nodes --no-headers").stdout.splitlines()
    status = {line.split()[0]: line.split()[1] for line in nodes}
    assert sorted(status) == sorted([CP, W1, W2]) and set(status.values()) == {"Ready"}, nodes


def test_add_nodes_again_changes_nothing(cluster):
    _out, recap = playbook("add_nodes.yml")
    assert all(c["changed"] == 0 and c["failed"] == 0 for c in recap.values()), recap


def test_smoke_test_with_the_lab_inventory_covers_readiness_and_http(cluster):
    # The README's quick start on the lab: the nginx pods run for real (the lab imports the test images, the kubelet
    # stand-in runs pods through containerd), pod traffic crosses hosts over flannel's vxlan and the kube-proxy
    # stand-in writes the NodePort rules, so the readiness wait and the HTTP check are both on (group_vars/all/pods.yml).
    out, recap = playbook("smoke_test.yml")
    assert "HTTP check passed: nginx answered on NodePort" in out and "NOT covered" not in out, out[-3000:]
    assert all(c["failed"] == 0 for c in recap.values()), recap
    cp = f"{NAME}-cp1"
    left = dexec(cp, "kubectl get deployments,services -l app.kubernetes.io/part-of=kubeforge-smoke-test -o name").stdout
    assert left.strip() == "", left


def test_smoke_test_readiness_timeout_names_the_deployment_its_pods_and_events(cluster):
    # An image that is not in the hosts (and cannot be pulled here): the failure says which Deployment, each pod's
    # state and why.
    out, _recap = playbook("smoke_test.yml", "-e", "smoke_test_image=docker.io/library/kf-absent:1",
                           "-e", "smoke_test_timeout=10s", ok=False)
    msg = next((line for line in out.splitlines() if "did not become ready" in line), "")
    assert "Deployment default/kubeforge-smoke-nginx did not become ready." in msg, out[-4000:]
    pods = re.findall(r"(kubeforge-smoke-nginx-[a-z0-9]+-[a-z0-9]+): (\w+) on (\S+) \(nginx (\w+)", msg)
    assert len(pods) == 2 and {p[1] for p in pods} == {"Pending"}, msg
    assert {p[3] for p in pods} <= {"ErrImagePull", "ImagePullBackOff", "ContainerCreating"}, msg
    assert "Events: " in msg and "(rollout status: " in msg and "timed out" in msg, msg
    cp = f"{NAME}-cp1"
    left = dexec(cp, "kubectl get deployments,services -l app.kubernetes.io/part-of=kubeforge-smoke-test -o name").stdout
    assert left.strip() == "", left
