"""Real pods in the lab (issue 14): a 1 + 1 cluster from site.yml whose kubelet stand-in runs ordinary pods through
the hosts' real containerd, runc and CNI plugins.

- lab setup: the test images (tests/lab/testimages.py) are in every host's containerd k8s.io namespace under the
  names the product and the smoke test use, imported by the lab's containerd drop-in; the lab inventory's
  group_vars/all/pods.yml gives containerd the restrict_oom_score_adj override the hosts need;
- nginx pods (the smoke test's image, a readiness probe) on both nodes: Running and Ready, their IPs from the
  nodes' podCIDRs through the flannel CNI plugin stand-in delegating to the real bridge + host-local, nginx
  answering each node; time from creation to Ready measured;
- a container that exits 3: restarts, last state with its exit code, CrashLoopBackOff; a Never pod: Succeeded;
- an absent image with pull policy Never: ErrImageNeverPull; IfNotPresent: ErrImagePull;
- deletion: the kubelets stop and remove the pods' sandboxes (CNI DEL: no veth left, cgroups gone);
- smoke_test.yml with its readiness wait on (the lab's pods.yml).

Its own lab (kf-pod-lab, 172.30.190.0/24), removed at the end; KF_POD_REUSE=1 keeps and reuses it.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest
import yaml
from conftest import LAB_DIR, ROOT, dexec, labcore, sh

sys.path.insert(0, str(ROOT / "tests" / "kubesim"))
from kubesim.kubelet import cri  # noqa: E402

NAME = "kf-pod-lab"
SUBNET = "172.30.190.0/24"
CP, WORKER = f"{NAME}-cp1", f"{NAME}-worker1"
NGINX = "docker.io/library/nginx:1.29-alpine"
BUSYBOX = "docker.io/library/busybox:latest"
MEASURED: dict[str, float] = {}
REUSE = os.environ.get("KF_POD_REUSE") == "1"


def playbook(name: str, *args: str, ok: bool = True) -> str:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}")
    r = subprocess.run(["ansible-playbook", "-i", str(labcore.inventory_dir(NAME)), name, *args], cwd=ROOT, env=env,
                       text=True, capture_output=True, timeout=1500, check=False)
    assert (r.returncode == 0) == ok, f"{name} exited {r.returncode}:\n{r.stdout[-6000:]}\n{r.stderr[-3000:]}"
    return r.stdout


@pytest.fixture(scope="module")
def cluster():
    lab = str(LAB_DIR / "lab")
    existing = REUSE and labcore.inventory_dir(NAME).exists()
    if not existing:
        sh(lab, "down", "--name", NAME, check=False)
    t0 = time.monotonic()
    sh(lab, "up", "--name", NAME, "--subnet", SUBNET, "--control-planes", "1", "--workers", "1", timeout=1200)
    MEASURED["lab up (s)"] = time.monotonic() - t0
    try:
        if not existing:
            t0 = time.monotonic()
            playbook("site.yml")
            MEASURED["site.yml (s)"] = time.monotonic() - t0
        yield
    finally:
        print("\nmeasured:", json.dumps({k: round(v, 2) for k, v in MEASURED.items()}))
        if not REUSE:
            sh(lab, "down", "--name", NAME, check=False)


def kubectl(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return sh("docker", "exec", "-i", CP, "kubectl", "--kubeconfig=/etc/kubernetes/admin.conf", *args, input=stdin,
              check=check)


def pod_json(name: str) -> dict:
    return json.loads(kubectl("get", "pod", name, "-o", "json").stdout)


def wait_for(what, check, timeout=120.0, interval=0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except AssertionError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def endpoint(host: str) -> str:
    pid = sh("docker", "inspect", "-f", "{{.State.Pid}}", host).stdout.strip()
    return f"unix:///proc/{pid}/root/run/containerd/containerd.sock"


def pod_manifest(name: str, node: str, containers: list, **spec) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "Pod",
                           "metadata": {"name": name, "namespace": "default", "labels": {"kf-test": "pods"}},
                           "spec": {"nodeName": node, "containers": containers, **spec}})


def ready(p: dict) -> dict | None:
    cs = p["status"].get("containerStatuses") or [{"ready": False}]
    return p if p["status"].get("phase") == "Running" and all(c["ready"] for c in cs) else None


def waiting_reason(p: dict) -> str:
    cs = (p.get("status") or {}).get("containerStatuses") or [{}]
    return (cs[0].get("state") or {}).get("waiting", {}).get("reason", "")


def test_test_images_and_runtime_override_on_every_host(cluster):
    sys.path.insert(0, str(LAB_DIR))
    import testimages
    repo, tags = testimages.product_names()
    want = {f"{repo}/pause:{t}" for t in tags} | {"docker.io/library/nginx:latest", NGINX, BUSYBOX}
    for host in (CP, WORKER):
        have = set(dexec(host, "ctr -n k8s.io images ls -q").stdout.split())
        assert want <= have, (host, want - have)
        conf = dexec(host, "cat /etc/containerd/config.toml").stdout
        assert re.search(r"^\s*restrict_oom_score_adj = true$", conf, re.M), conf
        # the pause image containerd pins is one the lab imported
        pinned = re.search(r'^\s*sandbox = "(.*)"$', conf, re.M).group(1)
        assert pinned in have, pinned
        assert "imported " in dexec(host, "journalctl -u containerd --no-pager -o cat").stdout
    inv = labcore.inventory_dir(NAME) / "group_vars" / "all" / "pods.yml"
    assert yaml.safe_load(inv.read_text()) == labcore.lab_pod_group_vars()


def test_nginx_pods_run_and_get_ready_on_both_nodes(cluster):
    probe = {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 2}
    t0 = time.monotonic()
    for node in (CP, WORKER):
        kubectl("apply", "-f", "-", stdin=pod_manifest(
            f"web-{node.rsplit('-', 1)[1]}", node,
            [{"name": "nginx", "image": NGINX, "ports": [{"containerPort": 80}], "readinessProbe": probe}]))
    for node in (CP, WORKER):
        name = f"web-{node.rsplit('-', 1)[1]}"
        p = wait_for(f"{name} Ready", lambda n=name: ready(pod_json(n)))
        MEASURED[f"{name}: apply to Ready (s)"] = time.monotonic() - t0
        cidr = json.loads(kubectl("get", "node", node, "-o", "json").stdout)["spec"]["podCIDR"]
        ip = p["status"]["podIP"]
        prefix = cidr.rsplit(".", 1)[0]
        assert ip.startswith(prefix + ".") and ip != prefix + ".1", (ip, cidr)
        cs = p["status"]["containerStatuses"][0]
        assert cs["containerID"].startswith("containerd://") and cs["imageID"].startswith("sha256:"), cs
        assert cs["restartCount"] == 0 and "running" in cs["state"], cs
        # runc runs it in the node; nginx answers from the pod's address over the real bridge
        assert cs["containerID"].split("//")[1] in dexec(node, "ctr -n k8s.io tasks ls -q").stdout
        get = (f"python3 -c 'import urllib.request; print(urllib.request.urlopen(\"http://{ip}/\", "
               "timeout=5).read().decode())'")
        assert "Welcome to nginx!" in dexec(node, get).stdout
        assert re.search(r"veth\S+.*master cni0", dexec(node, "ip -o link show master cni0").stdout)


def test_crash_loop_and_exit_codes(cluster):
    kubectl("apply", "-f", "-", stdin=pod_manifest("crash", WORKER, [
        {"name": "sh", "image": BUSYBOX, "imagePullPolicy": "IfNotPresent",
         "command": ["sh", "-c", "echo crashing; exit 3"]}], terminationGracePeriodSeconds=1))
    kubectl("apply", "-f", "-", stdin=pod_manifest("once", WORKER, [
        {"name": "sh", "image": BUSYBOX, "imagePullPolicy": "IfNotPresent", "command": ["true"]}],
        restartPolicy="Never"))
    p = wait_for("crash restarted, in CrashLoopBackOff",
                 lambda: (p := pod_json("crash"))["status"].get("containerStatuses", [{}])[0].get("restartCount", 0) >= 1
                 and waiting_reason(p) == "CrashLoopBackOff" and p)
    cs = p["status"]["containerStatuses"][0]
    assert cs["lastState"]["terminated"]["exitCode"] == 3 and cs["lastState"]["terminated"]["reason"] == "Error"
    assert p["status"]["phase"] == "Running" and not cs["ready"]
    p = wait_for("once Succeeded", lambda: (p := pod_json("once"))["status"].get("phase") == "Succeeded" and p)
    assert p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0


def test_images_not_present(cluster):
    kubectl("apply", "-f", "-", stdin=pod_manifest("never", WORKER, [
        {"name": "app", "image": "docker.io/library/kf-absent:1", "imagePullPolicy": "Never"}]))
    kubectl("apply", "-f", "-", stdin=pod_manifest("pull", WORKER, [
        {"name": "app", "image": "docker.io/library/kf-absent:2"}]))
    p = wait_for("ErrImageNeverPull", lambda: waiting_reason(p := pod_json("never")) == "ErrImageNeverPull" and p)
    assert p["status"]["containerStatuses"][0]["state"]["waiting"]["message"] == (
        'Container image "docker.io/library/kf-absent:1" is not present with pull policy of Never')
    assert p["status"]["phase"] == "Pending"
    wait_for("ErrImagePull / ImagePullBackOff",
             lambda: waiting_reason(pod_json("pull")) in ("ErrImagePull", "ImagePullBackOff"))


def test_deletion_removes_the_sandboxes(cluster):
    uids = {n: pod_json(n)["metadata"]["uid"] for n in ("web-cp1", "web-worker1", "crash", "once", "never", "pull")}
    t0 = time.monotonic()
    kubectl("delete", "pod", "-l", "kf-test=pods", "--wait=true", "--timeout=120s")
    MEASURED["delete of 6 pods (s)"] = time.monotonic() - t0
    # The API server stand-in removes a pod at once (no graceful deletion): the kubelets see their pods gone and
    # remove what they ran, as a kubelet does for a force-deleted pod.
    for node in (CP, WORKER):
        ep = endpoint(node)
        for uid in uids.values():
            wait_for(f"sandboxes of {uid} removed on {node}",
                     lambda u=uid, e=ep: cri.list_pod_sandboxes(e, labels={"io.kubernetes.pod.uid": u}) == [],
                     timeout=90)
    MEASURED["delete of 6 pods, to no sandbox left (s)"] = time.monotonic() - t0
    for node in (CP, WORKER):
        # CNI DEL ran for every pod: no veth on the bridge
        assert dexec(node, "ip -o link show master cni0 2>/dev/null").stdout.strip() == "", node
        # the pod cgroups go right after the sandboxes
        wait_for(f"pod cgroups removed on {node}", lambda n=node: not any(u.replace("-", "_") in dexec(
            n, "find /sys/fs/cgroup -maxdepth 7 -type d -name 'kubepods-*pod*.slice'").stdout for u in uids.values()),
            timeout=30)


def test_smoke_test_readiness_on(cluster):
    out = playbook("smoke_test.yml")
    assert "readiness NOT covered" not in out, out[-3000:]
    left = kubectl("get", "deployments,services", "-l", "app.kubernetes.io/part-of=kubeforge-smoke-test",
                   "-o", "name").stdout
    assert left.strip() == "", left
