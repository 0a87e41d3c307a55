"""Kubernetes on the nodes: packages, kubelet, kubeconfigs, static pods; the cluster through real kubectl."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from urllib.parse import urlsplit

import pytest
import yaml

from .common import ROOT, run_ok, settings
from .selection import on

KUBECTL = ["kubectl", "--kubeconfig=/etc/kubernetes/admin.conf"]
STATIC_PODS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
CNI_NAMESPACE = {"flannel": "kube-flannel", "calico": "kube-system"}
CNI_SELECTOR = {"flannel": "app=flannel", "calico": "k8s-app=calico-node"}
WAIT_S = 120


def expected_nodes(host) -> set[str]:
    g = settings(host)["groups"]
    return {h.lower() for h in g.get("control_plane", []) + g.get("workers", [])}


def test_kube_packages_pinned_and_held(host):
    version = str(settings(host)["kubernetes_version"])
    held = set(run_ok(host, "apt-mark", "showhold").split())
    for pkg in settings(host)["kube_packages_names"]:
        status = run_ok(host, "dpkg-query", "--show", "--showformat=${db:Status-Status} ${Version}", pkg).split()
        assert status[0] == "installed" and status[1].startswith(f"{version}-"), f"{pkg}: {status} (want {version}-*)"
        assert pkg in held, f"{pkg} not held (apt-mark showhold: {sorted(held)})"


def test_kubelet_enabled_and_active(host):
    kubelet = host.service("kubelet")
    assert kubelet.is_enabled and kubelet.is_running
    assert host.file("/etc/kubernetes/kubelet.conf").exists


@on("control_plane")
def test_admin_kubeconfigs_are_0600(host):
    for path in ("/etc/kubernetes/admin.conf", "/root/.kube/config"):
        f = host.file(path)
        assert f.exists and f.user == "root" and f.mode == 0o600, f"{path}: mode {oct(f.mode) if f.exists else 'missing'}"


@on("control_plane")
def test_static_pods_use_the_image_repository(host):
    repo = settings(host)["kubernetes_image_repository"]
    for name in STATIC_PODS:
        f = host.file(f"/etc/kubernetes/manifests/{name}.yaml")
        assert f.exists, f"{name} manifest missing"
        pod = yaml.safe_load(f.content_string)
        images = [c["image"] for c in pod["spec"]["containers"]]
        assert images and all(i.startswith(f"{repo}/{name}:") for i in images), f"{name}: {images} not from {repo}"


def _wait_for(check, what: str):
    deadline = time.monotonic() + WAIT_S
    while True:
        problems = check()
        if not problems:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{what} after {WAIT_S}s: {problems}")
        time.sleep(5)


def _node_problems(nodes: dict, expected: set[str]) -> list[str]:
    seen = {n["metadata"]["name"]: n for n in nodes["items"]}
    problems = [f"{n}: not registered" for n in sorted(expected - seen.keys())]
    for name, node in sorted(seen.items()):
        ready = [c for c in node["status"].get("conditions", []) if c["type"] == "Ready"]
        if not ready or ready[0]["status"] != "True":
            problems.append(f"{name}: Ready={ready[0]['status'] if ready else 'missing'}")
    return problems


def _cni_problems(pods: dict, expected: set[str]) -> list[str]:
    problems = []
    on = {p["spec"].get("nodeName") for p in pods["items"]}
    problems += [f"no CNI pod on {n}" for n in sorted(expected - on)]
    for p in pods["items"]:
        st = p.get("status", {})
        if st.get("phase") != "Running" or not all(c.get("ready") for c in st.get("containerStatuses", [{}])):
            problems.append(f"{p['metadata']['name']}: phase={st.get('phase')}")
    return problems


@on("first_control_plane")
def test_nodes_ready_and_cni_pods_running_kubectl_on_control_plane(host):
    s = settings(host)
    expected = expected_nodes(host)
    _wait_for(lambda: _node_problems(json.loads(run_ok(host, *KUBECTL, "get", "nodes", "--output=json")), expected),
              "nodes not Ready")
    cni = s["kubernetes_cni"]
    if cni == "none":
        return
    _wait_for(lambda: _cni_problems(json.loads(run_ok(
        host, *KUBECTL, "get", "pods", f"--namespace={CNI_NAMESPACE[cni]}", f"--selector={CNI_SELECTOR[cni]}",
        "--output=json")), expected), "CNI pods not Running")
    print(run_ok(host, *KUBECTL, "get", "nodes", "--output=wide"))


@on("first_control_plane")
def test_nodes_ready_kubectl_from_the_controller(host, tmp_path):
    """The venv's real kubectl on the controller, with the admin kubeconfig copied from the first control plane: the
    API endpoint of the inventory (a node address or the load balancer's VIP) answers from outside the cluster."""
    kubeconfig = tmp_path / "admin.conf"
    kubeconfig.write_text(host.file("/etc/kubernetes/admin.conf").content_string)
    kubeconfig.chmod(0o600)
    server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    url = urlsplit(server)
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=5).close()
    except OSError as e:
        raise AssertionError(f"API server {server} not reachable from the controller: {e}") from e
    kubectl = ROOT / ".venv" / "bin" / "kubectl"
    r = subprocess.run([str(kubectl), f"--kubeconfig={kubeconfig}", "get", "nodes", "--output=json"],
                       capture_output=True, text=True, timeout=60, check=False, env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    assert not _node_problems(json.loads(r.stdout), expected_nodes(host))
