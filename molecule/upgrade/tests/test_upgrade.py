"""Verify step of the "upgrade" scenario: after upgrade.yml (1.36.4 -> 1.37.1) every component runs the target,
packages are held at it, --check changes nothing, and too-big jumps and downgrades are refused before any change."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "molecule"))

from kf_molecule.common import ROOT, settings  # noqa: E402 -- after the sys.path insertion above
from kf_molecule.selection import on  # noqa: E402 -- after the sys.path insertion above
from kf_molecule.cluster import (  # noqa: E402 -- after the sys.path insertion above
    test_kube_packages_pinned_and_held,
    test_kubelet_enabled_and_active,
    test_nodes_ready_and_cni_pods_running_kubectl_on_control_plane,
)

__all__ = [
    "test_kube_packages_pinned_and_held",
    "test_kubelet_enabled_and_active",
    "test_nodes_ready_and_cni_pods_running_kubectl_on_control_plane",
    "test_every_component_reports_the_target",
    "test_kubeadm_binary_is_the_target",
    "test_snapshot_taken_before_the_upgrade",
    "test_check_mode_after_the_upgrade_changes_nothing",
    "test_two_minor_jump_refused_before_any_change",
    "test_downgrade_refused_before_any_change",
    "test_drain_blocked_by_a_disruption_budget_stopped_the_run_naming_the_pod",
]

RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
KUBECTL = ["kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf"]


def target(host):
    return "v" + str(settings(host)["kubernetes_version"])


def run_ok(host, *argv):
    r = host.run(" ".join(f"'{a}'" for a in argv))
    assert r.rc == 0, f"{argv}: {r.stdout}{r.stderr}"
    return r.stdout


@on("first_control_plane")  # asked once, on the first control plane
def test_every_component_reports_the_target(host):
    want = target(host)
    nodes = json.loads(run_ok(host, "sudo", *KUBECTL, "get", "nodes", "-o", "json"))["items"]
    assert len(nodes) == 2
    assert {n["metadata"]["name"]: n["status"]["nodeInfo"]["kubeletVersion"] for n in nodes} == {
        n["metadata"]["name"]: want for n in nodes}
    server = json.loads(run_ok(host, "sudo", *KUBECTL, "version", "-o", "json"))
    assert server["serverVersion"]["gitVersion"] == want and server["clientVersion"]["gitVersion"] == want
    for comp in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        manifest = host.file(f"/etc/kubernetes/manifests/{comp}.yaml").content_string
        assert re.search(rf"image: \S+/{comp}:{re.escape(want)}\n", manifest), f"{comp}: {manifest[:400]}"
    cfg = run_ok(host, "sudo", *KUBECTL, "get", "cm", "-n", "kube-system", "kubeadm-config",
                 "-o", "jsonpath={.data.ClusterConfiguration}")
    assert f"kubernetesVersion: {want}\n" in cfg
    proxy = run_ok(host, "sudo", *KUBECTL, "get", "ds", "-n", "kube-system", "kube-proxy",
                   "-o", "jsonpath={.spec.template.spec.containers[0].image}")
    assert proxy.endswith(":" + want), proxy
    # nothing left cordoned
    assert all(not n["spec"].get("unschedulable") for n in nodes)


def test_kubeadm_binary_is_the_target(host):
    assert run_ok(host, "kubeadm", "version", "-o", "short").strip() == target(host)
    assert host.file("/var/lib/kubelet/config.yaml").exists


@on("first_control_plane")  # the snapshot is taken on the first control plane
def test_snapshot_taken_before_the_upgrade(host):
    snap = host.file(f"/var/lib/kubeforge/etcd-snapshots/before-upgrade-v1.36.4-to-{target(host)}.db")
    with host.sudo():
        assert snap.exists and snap.user == "root" and snap.mode == 0o600 and snap.size > 0


def playbook(*args):
    inventory = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory"
    # JSON results: each message on one line, as written (the YAML format folds long lines)
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="default",
               ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    r = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(inventory),
                        str(ROOT / "playbooks" / "upgrade.yml"), *args],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800, check=False)
    recap = {m.group(1): tuple(int(x) for x in m.groups()[1:]) for m in RECAP.finditer(r.stdout)}
    return r, recap, r.stdout[-6000:] + r.stderr[-3000:]


@on("first_control_plane")  # one run for the whole cluster
def test_check_mode_after_the_upgrade_changes_nothing(host):
    r, recap, tail = playbook("--check")
    assert r.returncode == 0, tail
    assert recap and all(v[1] == 0 and v[2] == 0 and v[3] == 0 for v in recap.values()), tail


def refused(host, version, words):
    r, recap, tail = playbook("-e", f"kubernetes_version={version}")
    assert r.returncode != 0, tail
    # ansible-core prints failed results on stderr
    assert all(w in r.stdout + r.stderr for w in words), tail
    assert recap and all(v[1] == 0 for v in recap.values()), f"a refused upgrade changed something: {recap}\n{tail}"
    # and the hosts still run the target, packages untouched
    assert run_ok(host, "kubeadm", "version", "-o", "short").strip() == target(host)


@on("first_control_plane")  # one run for the whole cluster
def test_two_minor_jump_refused_before_any_change(host):
    # Only 1.36 and 1.37 exist here, so from 1.37.1 a two-minor jump is also an unsupported minor: the validate play
    # refuses it on the controller, before any host is contacted (the check play's own one-minor rule is exercised
    # by the downgrade below, and by the kubeadm stand-in's policy tests).
    refused(host, "1.39.0", ["kubernetes_version '1.39.0' is not supported", "no host was contacted"])


@on("first_control_plane")  # one run for the whole cluster
def test_downgrade_refused_before_any_change(host):
    refused(host, "1.36.4", ["kubernetes_version 1.36.4 cannot be reached from the cluster's v1.37.1: a downgrade "
                             "is not supported"])


@on("first_control_plane")  # prepare.yml recorded the blocked run there
def test_drain_blocked_by_a_disruption_budget_stopped_the_run_naming_the_pod(host):
    """prepare.yml ran upgrade.yml under a PodDisruptionBudget over CoreDNS: the run stopped at the drain, named the
    CoreDNS pod the budget protects and left exactly the node it was draining cordoned; converge then resumed it."""
    blocked = json.loads(run_ok(host, "sudo", "cat", "/root/kf-blocked-upgrade.json"))
    out = blocked["output"]
    stopped = re.search(r"Upgrading\s+(\S+)\s+stopped\s+while\s+draining", out)
    assert stopped, out[-3000:]
    assert re.search(r"violate\s+the\s+pod'+s\s+disruption\s+budget", out) and re.search(r"coredns-[a-z0-9]+-[a-z0-9]+", out), out[-3000:]
    cordoned = re.search(r"The\s+node\s+(\S+)\s+is\s+left\s+cordoned", out)
    assert cordoned, out[-3000:]
    assert blocked["unschedulable"] == [cordoned.group(1)] == [stopped.group(1)]
    assert re.search(r"failed=[1-9]", out), out[-1500:]
