"""Join faults on a real HA lab (issue 13): 2 control planes (VIP co-located on them), then a worker.

- after site.yml's joins the run's bootstrap token and the kubeadm-certs Secret are gone, and a second run changes
  nothing (join_token_cleanup);
- a join killed mid-way (kubeadm held in the join, the ansible run killed) leaves its JoinConfiguration only at the
  fixed path under /run, 0600 in a 0700 directory, never in /tmp; the re-run removes it, joins, and a run after that
  changes nothing;
- a half-joined control plane (kubelet.conf and Node present, a static pod manifest missing) stops the next run
  before anything joins, naming the repair (reset.yml --limit, the etcd member id); after that repair a re-run
  converges and the run after it changes nothing.

Its own lab (kf-jf-join, 172.30.170.0/24), removed at the end; slow (about 15 minutes).
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import pytest
from conftest import LAB_DIR, ROOT, dexec, labcore, sh

NAME = "kf-jf-join"
SUBNET = "172.30.170.0/24"
CP1, CP2, W1 = f"{NAME}-cp1", f"{NAME}-cp2", f"{NAME}-worker1"
JOIN_DIR = "/run/kubeadm-join"
JOIN_FILE = f"{JOIN_DIR}/config.yaml"
TOKEN_DESCRIPTION = "kubeforge.kubeadm join token"
# Holds `kubeadm join` on the worker while /run/kf-hold-join exists (first on root's PATH, before /usr/bin).
HOLD_WRAPPER = """#!/bin/sh
if [ "$1" = join ] && [ -e /run/kf-hold-join ]; then exec sleep 600; fi
exec /usr/bin/kubeadm "$@"
"""


def env() -> dict[str, str]:
    return dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}")


def argv(name: str, *args: str) -> list[str]:
    return ["ansible-playbook", "-i", str(labcore.inventory_dir(NAME)), name, *args]


def recap_of(out: str) -> dict[str, dict[str, int]]:
    return {host: {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
            for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", out, re.M)}


def playbook(name: str, *args: str, ok: bool = True) -> tuple[str, dict[str, dict[str, int]]]:
    r = subprocess.run(argv(name, *args), cwd=ROOT, env=env(), text=True, capture_output=True, timeout=1800,
                       check=False)
    assert (r.returncode == 0) == ok, f"{name} exited {r.returncode}:\n{r.stdout[-8000:]}\n{r.stderr[-3000:]}"
    return r.stdout, recap_of(r.stdout)


def unchanged(recap: dict[str, dict[str, int]]) -> bool:
    return bool(recap) and all(c["changed"] == 0 and c["failed"] == 0 for c in recap.values())


def join_tokens() -> list[str]:
    """The lines of `kubeadm token list` with the collection's join-token description."""
    return [line for line in dexec(CP1, "kubeadm token list").stdout.splitlines() if TOKEN_DESCRIPTION in line]


def certs_secret_exists() -> bool:
    r = dexec(CP1, "kubectl -n kube-system get secret kubeadm-certs -o name", check=False)
    assert r.returncode == 0 or "NotFound" in r.stderr, r.stderr
    return r.returncode == 0


def etcd_members() -> list[dict]:
    script = r"""python3 - <<'EOF'
import json, ssl, urllib.request
ctx = ssl.create_default_context(cafile="/etc/kubernetes/pki/etcd/ca.crt")
ctx.load_cert_chain("/etc/kubernetes/pki/etcd/healthcheck-client.crt", "/etc/kubernetes/pki/etcd/healthcheck-client.key")
req = urllib.request.Request("https://127.0.0.1:2379/v3/cluster/member/list", data=b"{}", method="POST")
print(json.dumps(json.load(urllib.request.urlopen(req, context=ctx, timeout=10)).get("members", [])))
EOF
"""
    return json.loads(dexec(CP1, script).stdout)


def node_names() -> list[str]:
    return sorted(dexec(CP1, "kubectl get nodes -o name").stdout.split())


@pytest.fixture(scope="module")
def cluster():
    lab = str(LAB_DIR / "lab")
    sh(lab, "down", "--name", NAME, check=False)
    sh(lab, "up", "--name", NAME, "--subnet", SUBNET, "--control-planes", "2", "--workers", "0", timeout=900)
    try:
        yield lab, playbook("site.yml")
    finally:
        sh(lab, "down", "--name", NAME, check=False)


def test_site_run_removes_its_join_secrets(cluster):
    _lab, (_out, _recap) = cluster
    assert node_names() == [f"node/{CP1}", f"node/{CP2}"]
    # cp2 joined with a token and uploaded certificates; both are gone after the run
    assert join_tokens() == []
    assert not certs_secret_exists()
    for host in (CP1, CP2):
        left = dexec(host, f"ls -A {JOIN_DIR} 2>/dev/null; ls /tmp | grep -c kubeadm-join || true").stdout.split()
        assert left == ["0"], (host, left)
    _out, recap = playbook("site.yml")
    assert unchanged(recap), recap


def test_killed_join_leaves_nothing_readable_and_the_rerun_removes_it(cluster):
    lab, _ = cluster
    sh(lab, "up", "--name", NAME, "--subnet", SUBNET, "--control-planes", "2", "--workers", "1", timeout=900)
    dexec(W1, f"cat > /usr/local/bin/kubeadm <<'EOF'\n{HOLD_WRAPPER}EOF\nchmod 0755 /usr/local/bin/kubeadm; "
              "touch /run/kf-hold-join")
    run = subprocess.Popen(argv("add_nodes.yml"), cwd=ROOT, env=env(), text=True, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 1200
        held = ""
        while time.monotonic() < deadline and run.poll() is None:
            held = dexec(W1, "pgrep -x sleep -a | grep 'sleep 600' | cut -d' ' -f1", check=False).stdout.strip()
            if held:
                break
            time.sleep(3)
        assert held, "the join was never reached:\n" + (run.stdout.read()[-6000:] if run.poll() is not None else "")
        # kubeadm is inside the join: the configuration exists, root-only, and nowhere else
        modes = dexec(W1, f"stat -c '%a %U' {JOIN_DIR} {JOIN_FILE}; ls /tmp | grep -c kubeadm-join || true").stdout
        assert modes.split("\n")[:3] == ["700 root", "600 root", "0"], modes
        assert "token:" in dexec(W1, f"cat {JOIN_FILE}").stdout
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=60)
        for pid in dexec(W1, "pgrep -x sleep -a | grep 'sleep 600' | cut -d' ' -f1", check=False).stdout.split():
            dexec(W1, f"kill {pid}", check=False)
        dexec(W1, "rm -f /run/kf-hold-join")
    # the killed run left the file behind (only root can read it) and no Node joined
    assert dexec(W1, f"stat -c %a {JOIN_FILE}").stdout.strip() == "600"
    assert f"node/{W1}" not in node_names()

    out, recap = playbook("add_nodes.yml")
    # the task's result line (profile_tasks prints a timing line between the header and the result)
    assert re.search(r"TASK \[kubeforge.kubeadm.kubernetes : Remove a JoinConfiguration an interrupted run left "
                     r"behind\][^\n]*\n(?:[^\n]*\n)?changed: \[" + re.escape(W1), out), out[-6000:]
    assert recap[W1]["changed"] > 0 and recap[W1]["failed"] == 0, recap
    assert dexec(W1, f"ls -A {JOIN_DIR}").stdout.strip() == ""
    assert f"node/{W1}" in node_names()
    assert join_tokens() == []  # the token the killed run created was reused, then deleted
    _out, recap = playbook("add_nodes.yml")
    assert unchanged(recap), recap
    dexec(W1, "rm -f /usr/local/bin/kubeadm")


def test_half_joined_control_plane_stops_the_run_with_its_repair(cluster):
    members = {m["name"]: m for m in etcd_members()}
    member_id = format(int(members[CP2]["ID"]), "x")
    # a control-plane join that stopped after kubelet.conf: one of its static pod manifests is missing
    dexec(CP2, "mv /etc/kubernetes/manifests/kube-scheduler.yaml /root/kube-scheduler.yaml")
    out, _recap = playbook("site.yml", ok=False)
    assert "half joined" in out, out[-6000:]
    assert f"- {CP2} (Node \"{CP2}\"): static pod manifests missing: kube-scheduler." in out, out[-6000:]
    assert f"reset.yml --limit {CP2} -e reset_confirm=true" in out
    assert f"member remove {member_id}" in out, out[-6000:]
    # stopped in the join-secrets play: no join, no later play
    assert "PLAY [Join the other control planes]" not in out and "PLAY [Join the workers]" not in out

    _out, _recap = playbook("reset.yml", "--limit", CP2, "-e", "reset_confirm=true")
    assert CP2 not in {m.get("name") for m in etcd_members()}
    out, recap = playbook("site.yml")
    assert recap[CP2]["changed"] > 0, recap
    assert dexec(CP2, "ls /etc/kubernetes/manifests").stdout.split() == [
        "etcd.yaml", "kube-apiserver.yaml", "kube-controller-manager.yaml", "kube-scheduler.yaml"]
    assert CP2 in {m.get("name") for m in etcd_members()}
    assert join_tokens() == [] and not certs_secret_exists()
    _out, recap = playbook("site.yml")
    assert unchanged(recap), recap
